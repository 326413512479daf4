package mapping

import (
	"errors"
	"strings"
	"testing"

	"retain/datasets"
)

func TestParseDecimal(t *testing.T) {
	dot := numberFormat{decimal: '.'}
	comma := numberFormat{decimal: ',', thousands: '.'}
	euro := numberFormat{decimal: ',', thousands: '.', strip: []string{"€"}}
	for _, tc := range []struct {
		f    numberFormat
		in   string
		want string // exact rational, or "" for an error
		err  error
	}{
		{dot, "11.77", "11.77", nil},
		{dot, " 11.77 ", "11.77", nil},
		{dot, "-1", "-1", nil},
		{dot, "+3", "3", nil},
		{dot, ".5", "0.5", nil},
		{dot, "5.", "5", nil},
		{dot, "0", "0", nil},
		{dot, "1.5E+3", "1500", nil},
		{dot, "2e-2", "0.02", nil},
		{comma, "3,895", "3.895", nil},
		{comma, "1.234.567,00", "1234567", nil},
		{comma, "-1.234,5", "-1234.5", nil},
		{euro, "12,50 €", "12.5", nil},
		{euro, "€1.000", "1000", nil},
		{dot, "", "", datasets.ErrBadNumber},
		{dot, "NaN", "", datasets.ErrBadNumber},
		{dot, "nan", "", datasets.ErrBadNumber},
		{dot, "Inf", "", datasets.ErrBadNumber},
		{dot, "-Infinity", "", datasets.ErrBadNumber},
		{dot, "1/3", "", datasets.ErrBadNumber}, // big.Rat would accept it
		{dot, "0x10", "", datasets.ErrBadNumber},
		{dot, "1,5", "", datasets.ErrBadNumber}, // comma without thousands option
		{dot, "1.2.3", "", datasets.ErrBadNumber},
		{dot, "abc", "", datasets.ErrBadNumber},
		{dot, "-", "", datasets.ErrBadNumber},
		{dot, "1e", "", datasets.ErrBadNumber},
		{dot, "1e400", "", datasets.ErrAbsurdAmount},
		{dot, "1e-400", "", datasets.ErrAbsurdAmount},
		{dot, strings.Repeat("9", 65), "", datasets.ErrAbsurdAmount},
		{comma, "1.23,4", "", datasets.ErrBadNumber},  // thousands group of 2
		{comma, "1.2345", "", datasets.ErrBadNumber},  // thousands group of 4
		{comma, ".123", "", datasets.ErrBadNumber},    // no digit before the separator
		{comma, "1,000.5", "", datasets.ErrBadNumber}, // the wrong convention
	} {
		got, err := tc.f.parseDecimal(tc.in)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("parseDecimal(%q) = %v, %v; want error %v", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got.Cmp(rat(tc.want)) != 0 {
			t.Errorf("parseDecimal(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

func TestParseInt(t *testing.T) {
	nf := numberFormat{decimal: ','}
	for in, want := range map[string]int64{"60": 60, "60,0": 60, " 7 ": 7, "-3": -3} {
		if got, err := nf.parseInt(in); err != nil || got != want {
			t.Errorf("parseInt(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"60,5", "x", "", "99999999999999999999"} {
		if got, err := nf.parseInt(in); !errors.Is(err, datasets.ErrBadNumber) {
			t.Errorf("parseInt(%q) = %d, %v; want ErrBadNumber", in, got, err)
		}
	}
}
