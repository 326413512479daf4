package mapping

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"retain/datasets"
)

// maxExponent bounds the exponent of a number in scientific notation
// (1.5E+3): larger exponents are rejected as absurd rather than turned into
// enormous rationals.
const maxExponent = 30

// maxNumberLen bounds the length of a number; longer ones are absurd.
const maxNumberLen = 64

// numberFormat says how the numbers of a source are written.
type numberFormat struct {
	decimal   byte // '.' or ','
	thousands byte // 0 (none), '.', ',', ' ', '\''
	strip     []string
}

// parseDecimal parses a decimal number such as "-1234.50", "1.234,50" (with
// decimal ',' and thousands '.'), "+3", ".5" or "1.5E+3" exactly. NaN,
// infinities, fractions, hexadecimal and empty strings are rejected with an
// error wrapping datasets.ErrBadNumber.
func (f numberFormat) parseDecimal(s string) (*big.Rat, error) {
	orig := s
	s = strings.TrimSpace(s)
	for _, sym := range f.strip {
		if sym != "" {
			s = strings.TrimSpace(strings.ReplaceAll(s, sym, ""))
		}
	}
	if s == "" {
		return nil, fmt.Errorf("%w: empty number", datasets.ErrBadNumber)
	}
	if len(s) > maxNumberLen {
		return nil, fmt.Errorf("%w: number of %d characters", datasets.ErrAbsurdAmount, len(s))
	}
	dec := f.decimal
	if dec == 0 {
		dec = '.'
	}
	var b strings.Builder
	i := 0
	if s[0] == '+' || s[0] == '-' {
		if s[0] == '-' {
			b.WriteByte('-')
		}
		i = 1
	}
	digits, fracDigits := 0, 0
	seenDec := false
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			b.WriteByte(c)
			digits++
			if seenDec {
				fracDigits++
			}
		case c == dec && !seenDec:
			seenDec = true
			b.WriteByte('.')
		case f.thousands != 0 && c == f.thousands && !seenDec && digits > 0:
			// A thousands separator must be followed by exactly three digits.
			if i+3 >= len(s) {
				return nil, fmt.Errorf("%w: misplaced thousands separator in %q", datasets.ErrBadNumber, orig)
			}
			for j := 1; j <= 3; j++ {
				if s[i+j] < '0' || s[i+j] > '9' {
					return nil, fmt.Errorf("%w: misplaced thousands separator in %q", datasets.ErrBadNumber, orig)
				}
			}
			if i+4 < len(s) && s[i+4] >= '0' && s[i+4] <= '9' {
				return nil, fmt.Errorf("%w: misplaced thousands separator in %q", datasets.ErrBadNumber, orig)
			}
		case (c == 'e' || c == 'E') && digits > 0:
			exp, err := strconv.Atoi(s[i+1:])
			if err != nil {
				return nil, fmt.Errorf("%w: not a number: %q", datasets.ErrBadNumber, orig)
			}
			if exp > maxExponent || exp < -maxExponent {
				return nil, fmt.Errorf("%w: exponent of %q out of range", datasets.ErrAbsurdAmount, orig)
			}
			b.WriteString("e")
			b.WriteString(strconv.Itoa(exp))
			i = len(s)
		default:
			return nil, fmt.Errorf("%w: not a number: %q", datasets.ErrBadNumber, orig)
		}
	}
	if digits == 0 {
		return nil, fmt.Errorf("%w: not a number: %q", datasets.ErrBadNumber, orig)
	}
	r, ok := new(big.Rat).SetString(b.String())
	if !ok {
		return nil, fmt.Errorf("%w: not a number: %q", datasets.ErrBadNumber, orig)
	}
	return r, nil
}

// parseInt parses a whole number (an optional sign and digits, possibly with
// a zero fraction such as "60.0" or "60,00" with decimal ',').
func (f numberFormat) parseInt(s string) (int64, error) {
	r, err := f.parseDecimal(s)
	if err != nil {
		return 0, err
	}
	if !r.IsInt() || !r.Num().IsInt64() {
		return 0, fmt.Errorf("%w: not a whole number: %q", datasets.ErrBadNumber, s)
	}
	return r.Num().Int64(), nil
}
