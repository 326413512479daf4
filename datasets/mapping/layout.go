package mapping

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"retain/datasets"
)

// Layouts with a meaning of their own.
const (
	layoutUnix   = "unix"    // seconds since 1970-01-01 UTC
	layoutUnixMs = "unix_ms" // milliseconds since 1970-01-01 UTC
)

// DefaultLayouts are the layouts tried when a timestamp field names none.
var DefaultLayouts = []string{"RFC3339", "YYYY-MM-DDTHH:MM:SS", "YYYY-MM-DD HH:MM:SS", "YYYY-MM-DD HH:MM", "YYYY-MM-DD"}

var namedLayouts = map[string]string{
	"RFC3339":     time.RFC3339Nano, // parses with or without fractional seconds
	"RFC3339Nano": time.RFC3339Nano,
	"unix":        layoutUnix,
	"unix_ms":     layoutUnixMs,
}

// resolveLayouts turns the layouts of a mapping into Go layouts. A layout
// is one of the names RFC3339, RFC3339Nano, unix, unix_ms; a pattern made
// of the tokens YYYY YY MM DD HH SS and the separators - . / : T space and
// comma, where MM after HH means minutes (YYYYMMDD, DD.MM.YYYY HH:MM); or a
// Go layout (02.01.2006 15:04). Every layout must give year, month and day.
func resolveLayouts(in []string) ([]string, error) {
	if len(in) == 0 {
		in = DefaultLayouts
	}
	out := make([]string, 0, len(in))
	for _, l := range in {
		g, err := resolveLayout(l)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

func resolveLayout(l string) (string, error) {
	if g, ok := namedLayouts[l]; ok {
		return g, nil
	}
	if l == "" {
		return "", fmt.Errorf("empty layout")
	}
	g := l
	if strings.Contains(l, "YY") || strings.Contains(l, "DD") {
		var b strings.Builder
		minutes := false
		for i := 0; i < len(l); {
			switch {
			case strings.HasPrefix(l[i:], "YYYY"):
				b.WriteString("2006")
				i += 4
			case strings.HasPrefix(l[i:], "YY"):
				b.WriteString("06")
				i += 2
			case strings.HasPrefix(l[i:], "MM"):
				if minutes {
					b.WriteString("04")
				} else {
					b.WriteString("01")
				}
				i += 2
			case strings.HasPrefix(l[i:], "DD"):
				b.WriteString("02")
				i += 2
			case strings.HasPrefix(l[i:], "HH"):
				b.WriteString("15")
				minutes = true
				i += 2
			case strings.HasPrefix(l[i:], "SS"):
				b.WriteString("05")
				i += 2
			case strings.IndexByte("-./: T,", l[i]) >= 0:
				b.WriteByte(l[i])
				i++
			default:
				return "", fmt.Errorf("layout %q: unexpected %q (patterns use YYYY YY MM DD HH SS and - . / : T , space)", l, l[i:i+1])
			}
		}
		g = b.String()
	}
	// The layout must carry year, month and day.
	ref := time.Date(2031, 11, 27, 13, 14, 15, 0, time.UTC)
	back, err := time.Parse(g, ref.Format(g))
	if err != nil || back.Year() != 2031 || back.Month() != 11 || back.Day() != 27 {
		return "", fmt.Errorf("layout %q does not give year, month and day (Go layouts use 2006 01 02 15 04 05; patterns YYYY MM DD HH MM SS)", l)
	}
	return g, nil
}

// parseTime parses s with the first layout that accepts it; local times are
// in loc. It returns the instant in UTC, or an error wrapping
// datasets.ErrBadTimestamp that lists the layouts as shown.
func parseTime(s string, layouts []string, shown string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, fmt.Errorf("%w: empty", datasets.ErrMissing)
	}
	for _, l := range layouts {
		switch l {
		case layoutUnix, layoutUnixMs:
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				continue
			}
			if l == layoutUnix {
				if n > 1<<40 || n < -(1<<40) {
					continue
				}
				return time.Unix(n, 0).UTC(), nil
			}
			return time.UnixMilli(n).UTC(), nil
		}
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t.UTC(), nil
		}
	}
	if shown == "" {
		shown = strings.Join(layouts, " | ")
	}
	return time.Time{}, fmt.Errorf("%w: %q matches none of the layouts %s", datasets.ErrBadTimestamp, s, shown)
}
