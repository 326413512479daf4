package mapping

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
	"unicode"
	"unicode/utf8"

	"retain/datasets"
)

// Limits of the expression language; they keep a hostile mapping file from
// exhausting the stack or the CPU.
const (
	maxExprLen   = 4096
	maxExprDepth = 64
	maxExprNodes = 64 // numbers, columns and operators; bounds the cost of a row
)

// An Expr is a parsed amount formula: an arithmetic expression over the
// columns of a source row, evaluated exactly with rational numbers.
//
// Grammar (usual precedence, left-associative):
//
//	expr    = term { ("+" | "-") term }
//	term    = unary { ("*" | "/") unary }
//	unary   = ("-" | "+") unary | primary
//	primary = number | column | "(" expr ")"
//	number  = digits [ "." digits ] | "." digits
//	column  = letter { letter | digit | "_" | "." }    e.g. dollar_value
//	        | '"' any characters, "" for a quote '"'    e.g. "Unit Price"
//	        | '`' any characters but '`' '`'             e.g. `Unit Price`
//
// A letter is a Unicode letter or "_". Numeric literals use "." as decimal
// separator whatever the source's decimal option says.
type Expr struct {
	src  string
	root node
	cols []string
}

type nodeKind uint8

const (
	nodeNum nodeKind = iota
	nodeCol
	nodeNeg
	nodeAdd
	nodeSub
	nodeMul
	nodeDiv
)

type node struct {
	kind nodeKind
	num  *big.Rat // nodeNum
	col  string   // nodeCol
	l, r *node
}

// ParseExpr parses an amount formula. The error says at which byte offset
// the formula is malformed.
func ParseExpr(s string) (*Expr, error) {
	if len(s) > maxExprLen {
		return nil, fmt.Errorf("mapping: expression longer than %d bytes", maxExprLen)
	}
	if !utf8.ValidString(s) {
		return nil, errors.New("mapping: expression is not valid UTF-8")
	}
	p := &exprParser{src: s}
	p.next()
	root, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokEOF {
		return nil, p.errorf("unexpected %s", p.tok)
	}
	if n := countNodes(root); n > maxExprNodes {
		return nil, fmt.Errorf("mapping: expression %q has %d terms and operators, more than %d", s, n, maxExprNodes)
	}
	e := &Expr{src: s, root: *root}
	seen := map[string]bool{}
	collectCols(root, seen, &e.cols)
	return e, nil
}

func countNodes(n *node) int {
	if n == nil {
		return 0
	}
	return 1 + countNodes(n.l) + countNodes(n.r)
}

func collectCols(n *node, seen map[string]bool, out *[]string) {
	if n == nil {
		return
	}
	if n.kind == nodeCol && !seen[n.col] {
		seen[n.col] = true
		*out = append(*out, n.col)
	}
	collectCols(n.l, seen, out)
	collectCols(n.r, seen, out)
}

// String returns the formula as written.
func (e *Expr) String() string { return e.src }

// Columns returns the column names the formula reads, in order of first
// appearance.
func (e *Expr) Columns() []string { return e.cols }

// Eval evaluates the formula. value returns the number in the named column;
// its error is returned unchanged. Division by zero returns an error wrapping
// datasets.ErrBadNumber.
func (e *Expr) Eval(value func(col string) (*big.Rat, error)) (*big.Rat, error) {
	return eval(&e.root, value)
}

func eval(n *node, value func(string) (*big.Rat, error)) (*big.Rat, error) {
	switch n.kind {
	case nodeNum:
		return new(big.Rat).Set(n.num), nil
	case nodeCol:
		v, err := value(n.col)
		if err != nil {
			return nil, err
		}
		if v == nil {
			return nil, fmt.Errorf("%w: no value for column %q", datasets.ErrBadNumber, n.col)
		}
		return new(big.Rat).Set(v), nil
	case nodeNeg:
		x, err := eval(n.l, value)
		if err != nil {
			return nil, err
		}
		return x.Neg(x), nil
	}
	x, err := eval(n.l, value)
	if err != nil {
		return nil, err
	}
	y, err := eval(n.r, value)
	if err != nil {
		return nil, err
	}
	switch n.kind {
	case nodeAdd:
		return x.Add(x, y), nil
	case nodeSub:
		return x.Sub(x, y), nil
	case nodeMul:
		return x.Mul(x, y), nil
	default: // nodeDiv
		if y.Sign() == 0 {
			return nil, fmt.Errorf("%w: division by zero", datasets.ErrBadNumber)
		}
		return x.Quo(x, y), nil
	}
}

// ToMinor converts an amount in major units (dollars) to an integer number
// of minor units (cents when minorUnits is 2), rounding half away from zero:
// 0.125 dollars is 13 cents and -0.125 is -13. It returns an error wrapping
// datasets.ErrAbsurdAmount when the result does not fit in an int64.
func ToMinor(x *big.Rat, minorUnits int) (int64, error) {
	if minorUnits < 0 || minorUnits > maxMinorUnits {
		return 0, fmt.Errorf("mapping: minor_units %d out of range 0..%d", minorUnits, maxMinorUnits)
	}
	scaled := new(big.Rat).Mul(x, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(minorUnits)), nil)))
	num := new(big.Int).Abs(scaled.Num())
	den := scaled.Denom()
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	// Half away from zero: round the magnitude up when 2r >= den.
	if r.Lsh(r, 1).Cmp(den) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if scaled.Sign() < 0 {
		q.Neg(q)
	}
	if !q.IsInt64() {
		return 0, fmt.Errorf("%w: %s does not fit in 64 bits of minor units", datasets.ErrAbsurdAmount, x.FloatString(minorUnits))
	}
	return q.Int64(), nil
}

// The tokenizer.

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokNum
	tokCol
	tokOp // + - * / ( )
	tokBad
)

type token struct {
	kind tokKind
	text string // tokNum: the literal; tokCol: the column name; tokOp: the operator
	pos  int
}

func (t token) String() string {
	switch t.kind {
	case tokEOF:
		return "end of expression"
	case tokNum:
		return "number " + t.text
	case tokCol:
		return fmt.Sprintf("column %q", t.text)
	case tokBad:
		return t.text
	}
	return fmt.Sprintf("%q", t.text)
}

type exprParser struct {
	src string
	pos int
	tok token
}

func (p *exprParser) errorf(format string, args ...any) error {
	return fmt.Errorf("mapping: expression %q at offset %d: %s", p.src, p.tok.pos, fmt.Sprintf(format, args...))
}

func isIdentStart(r rune) bool { return r == '_' || unicode.IsLetter(r) }
func isIdentPart(r rune) bool {
	return r == '_' || r == '.' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

func (p *exprParser) next() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t' || p.src[p.pos] == '\n' || p.src[p.pos] == '\r') {
		p.pos++
	}
	start := p.pos
	if p.pos >= len(p.src) {
		p.tok = token{kind: tokEOF, pos: start}
		return
	}
	c := p.src[p.pos]
	switch {
	case strings.IndexByte("+-*/()", c) >= 0:
		p.pos++
		p.tok = token{kind: tokOp, text: string(c), pos: start}
	case c >= '0' && c <= '9' || c == '.':
		for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
			p.pos++
		}
		if p.pos < len(p.src) && p.src[p.pos] == '.' {
			p.pos++
			for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
				p.pos++
			}
		}
		lit := p.src[start:p.pos]
		if lit == "." || (p.pos < len(p.src) && (p.src[p.pos] == '.' || isIdentStart(rune(p.src[p.pos])))) {
			p.tok = token{kind: tokBad, text: fmt.Sprintf("malformed number %q", p.src[start:min(p.pos+1, len(p.src))]), pos: start}
			return
		}
		p.tok = token{kind: tokNum, text: lit, pos: start}
	case c == '"' || c == '`':
		var b strings.Builder
		p.pos++
		for {
			if p.pos >= len(p.src) {
				p.tok = token{kind: tokBad, text: "unterminated quoted column name", pos: start}
				return
			}
			if p.src[p.pos] == c {
				if c == '"' && p.pos+1 < len(p.src) && p.src[p.pos+1] == '"' {
					b.WriteByte('"')
					p.pos += 2
					continue
				}
				p.pos++
				break
			}
			b.WriteByte(p.src[p.pos])
			p.pos++
		}
		if b.Len() == 0 {
			p.tok = token{kind: tokBad, text: "empty quoted column name", pos: start}
			return
		}
		p.tok = token{kind: tokCol, text: b.String(), pos: start}
	default:
		r, size := utf8.DecodeRuneInString(p.src[p.pos:])
		if !isIdentStart(r) {
			p.tok = token{kind: tokBad, text: fmt.Sprintf("unexpected character %q", r), pos: start}
			return
		}
		p.pos += size
		for p.pos < len(p.src) {
			r, size := utf8.DecodeRuneInString(p.src[p.pos:])
			if !isIdentPart(r) {
				break
			}
			p.pos += size
		}
		p.tok = token{kind: tokCol, text: p.src[start:p.pos], pos: start}
	}
}

func (p *exprParser) expr(depth int) (*node, error) {
	if depth > maxExprDepth {
		return nil, p.errorf("nested deeper than %d", maxExprDepth)
	}
	l, err := p.term(depth)
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tokOp && (p.tok.text == "+" || p.tok.text == "-") {
		k := nodeAdd
		if p.tok.text == "-" {
			k = nodeSub
		}
		p.next()
		r, err := p.term(depth)
		if err != nil {
			return nil, err
		}
		l = &node{kind: k, l: l, r: r}
	}
	return l, nil
}

func (p *exprParser) term(depth int) (*node, error) {
	l, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tokOp && (p.tok.text == "*" || p.tok.text == "/") {
		k := nodeMul
		if p.tok.text == "/" {
			k = nodeDiv
		}
		p.next()
		r, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		l = &node{kind: k, l: l, r: r}
	}
	return l, nil
}

func (p *exprParser) unary(depth int) (*node, error) {
	if depth > maxExprDepth {
		return nil, p.errorf("nested deeper than %d", maxExprDepth)
	}
	if p.tok.kind == tokOp && (p.tok.text == "-" || p.tok.text == "+") {
		neg := p.tok.text == "-"
		p.next()
		x, err := p.unary(depth + 1)
		if err != nil {
			return nil, err
		}
		if neg {
			return &node{kind: nodeNeg, l: x}, nil
		}
		return x, nil
	}
	return p.primary(depth)
}

func (p *exprParser) primary(depth int) (*node, error) {
	switch p.tok.kind {
	case tokNum:
		r, ok := new(big.Rat).SetString(p.tok.text)
		if !ok {
			return nil, p.errorf("malformed number %q", p.tok.text)
		}
		p.next()
		return &node{kind: nodeNum, num: r}, nil
	case tokCol:
		n := &node{kind: nodeCol, col: p.tok.text}
		p.next()
		return n, nil
	case tokOp:
		if p.tok.text == "(" {
			p.next()
			x, err := p.expr(depth + 1)
			if err != nil {
				return nil, err
			}
			if p.tok.kind != tokOp || p.tok.text != ")" {
				return nil, p.errorf("want \")\", got %s", p.tok)
			}
			p.next()
			return x, nil
		}
	case tokBad:
		return nil, p.errorf("%s", p.tok.text)
	}
	return nil, p.errorf("want a number, a column or \"(\", got %s", p.tok)
}
