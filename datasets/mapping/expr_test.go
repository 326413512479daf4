package mapping

import (
	"errors"
	"math/big"
	"strings"
	"testing"

	"retain/datasets"
)

func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic("bad rational " + s)
	}
	return r
}

func vars(m map[string]string) func(string) (*big.Rat, error) {
	return func(col string) (*big.Rat, error) {
		v, ok := m[col]
		if !ok {
			return nil, errors.New("no column " + col)
		}
		return rat(v), nil
	}
}

func TestParseExpr(t *testing.T) {
	env := map[string]string{"qty": "3", "price": "3.895", "Unit Price": "2.5", "a": "2", "b": "3", "c": "4", "dollar_value": "11.77", `say "hi"`: "1"}
	for _, tc := range []struct {
		expr string
		want string // exact rational
		cols []string
	}{
		{"dollar_value", "11.77", []string{"dollar_value"}},
		{"qty * price", "11.685", []string{"qty", "price"}},          // 3 * 3.895
		{"a + b * c", "14", []string{"a", "b", "c"}},                 // 2 + 12: * binds tighter
		{"(a + b) * c", "20", []string{"a", "b", "c"}},               // 5 * 4
		{"a - b - c", "-5", []string{"a", "b", "c"}},                 // (2 - 3) - 4: left-associative
		{"a / b / c", "1/6", []string{"a", "b", "c"}},                // (2 / 3) / 4
		{"a / (b / c)", "8/3", []string{"a", "b", "c"}},              // 2 / 0.75
		{"-a * b", "-6", []string{"a", "b"}},                         // unary minus
		{"--a", "2", []string{"a"}},                                  // double negation
		{"a * -b", "-6", []string{"a", "b"}},                         // unary after operator
		{"+a", "2", []string{"a"}},                                   // unary plus
		{`"Unit Price" * qty`, "7.5", []string{"Unit Price", "qty"}}, // quoted column with a space
		{"`Unit Price` * 2", "5", []string{"Unit Price"}},            // backquoted
		{`"say ""hi""" + 1`, "2", []string{`say "hi"`}},              // "" is a quote
		{"100 / 3", "100/3", nil},                                    // exact, not 33.33
		{"0.1 + 0.2", "3/10", nil},                                   // exact, unlike float64
		{".5 * 4", "2", nil},                                         // leading dot literal
		{"qty*price-a", "9.685", []string{"qty", "price", "a"}},      // no spaces
		{" ( ( a ) ) ", "2", []string{"a"}},
		{"a * a", "4", []string{"a"}}, // column listed once
	} {
		e, err := ParseExpr(tc.expr)
		if err != nil {
			t.Errorf("ParseExpr(%q): %v", tc.expr, err)
			continue
		}
		got, err := e.Eval(vars(env))
		if err != nil {
			t.Errorf("%q: Eval: %v", tc.expr, err)
			continue
		}
		if got.Cmp(rat(tc.want)) != 0 {
			t.Errorf("%q = %s, want %s", tc.expr, got.RatString(), tc.want)
		}
		if strings.Join(e.Columns(), ",") != strings.Join(tc.cols, ",") {
			t.Errorf("%q: Columns() = %q, want %q", tc.expr, e.Columns(), tc.cols)
		}
	}
}

func TestParseExprErrors(t *testing.T) {
	for _, s := range []string{
		"", "   ", "a +", "(a", "a)", "a b", "1.2.3", "2x", "1..2", ".", `"unterminated`, `""`,
		"a $ b", "* a", "a ** b", "()", "a (b)", "#", strings.Repeat("(", 100) + "a" + strings.Repeat(")", 100),
		strings.Repeat("-", 100) + "a", strings.Repeat("a+", 3000) + "a", strings.Repeat("a*", 40) + "a",
	} {
		if e, err := ParseExpr(s); err == nil {
			t.Errorf("ParseExpr(%q) = %v, want an error", s, e.root)
		}
	}
}

func TestEvalDivisionByZero(t *testing.T) {
	e, err := ParseExpr("a / (b - b)")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Eval(vars(map[string]string{"a": "1", "b": "3"}))
	if !errors.Is(err, datasets.ErrBadNumber) {
		t.Errorf("got %v, want ErrBadNumber", err)
	}
}

func TestToMinor(t *testing.T) {
	for _, tc := range []struct {
		x     string
		minor int
		want  int64
	}{
		{"0.125", 2, 13},    // 12.5 cents: half away from zero rounds up
		{"-0.125", 2, -13},  // and down for negatives
		{"0.124999", 2, 12}, // 12.4999 cents
		{"2.675", 2, 268},   // 267.5 cents; float64(2.675)*100 would give 267.49999 -> 267
		{"1/3", 2, 33},      // 33.33 cents
		{"2/3", 2, 67},      // 66.67 cents
		{"-2/3", 2, -67},    // -66.67 cents
		{"0.005", 2, 1},     // 0.5 cents
		{"-0.005", 2, -1},   // -0.5 cents
		{"0.0049", 2, 0},    // 0.49 cents
		{"11.685", 2, 1169}, // 3 * 3.895: 1168.5 cents
		{"2.5", 0, 3},       // no minor units (JPY)
		{"-2.5", 0, -3},     //
		{"1.5", 0, 2},       //
		{"1.0005", 3, 1001}, // 1000.5 thousandths
		{"0", 2, 0},         //
		{"49.90", 2, 4990},  //
		{"92233720368547758.07", 2, 9223372036854775807}, // math.MaxInt64 cents exactly
	} {
		got, err := ToMinor(rat(tc.x), tc.minor)
		if err != nil {
			t.Errorf("ToMinor(%s, %d): %v", tc.x, tc.minor, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ToMinor(%s, %d) = %d, want %d", tc.x, tc.minor, got, tc.want)
		}
	}
	for _, x := range []string{"92233720368547758.08", "1e30", "-1e30"} {
		if _, err := ToMinor(rat(x), 2); !errors.Is(err, datasets.ErrAbsurdAmount) {
			t.Errorf("ToMinor(%s) error = %v, want ErrAbsurdAmount", x, err)
		}
	}
}

func FuzzParseExpr(f *testing.F) {
	for _, s := range []string{"qty * price", "a + b * c", "(a + b) / c", `"Unit Price" * -qty`, "`x y` - 1.5", "--a", "100 / 3", "a / (b - b)", "((a))", "1.2.3", `"a""b"`, "é * ü"} {
		f.Add(s, "3", "-0.5")
	}
	f.Fuzz(func(t *testing.T, expr, v1, v2 string) {
		e, err := ParseExpr(expr)
		if err != nil {
			return
		}
		nf := numberFormat{decimal: '.'}
		val := func(col string) (*big.Rat, error) {
			// Alternate the fuzzed values between columns; a value that does
			// not parse is an error, as in a real row.
			if len(col)%2 == 0 {
				return nf.parseDecimal(v1)
			}
			return nf.parseDecimal(v2)
		}
		x, err1 := e.Eval(val)
		y, err2 := e.Eval(val)
		if (err1 == nil) != (err2 == nil) || err1 == nil && x.Cmp(y) != 0 {
			t.Fatalf("%q: evaluation not deterministic", expr)
		}
		if err1 == nil {
			ToMinor(x, 2)
		}
		// The formula as written parses again to the same columns.
		e2, err := ParseExpr(e.String())
		if err != nil || strings.Join(e2.Columns(), "\x00") != strings.Join(e.Columns(), "\x00") {
			t.Fatalf("%q: reparse: %v", expr, err)
		}
	})
}
