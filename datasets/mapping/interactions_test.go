package mapping

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"retain/datasets"
)

// TestInteractionsBuiltin imports a small interaction log with both
// built-in interaction mappings: RFC 3339 and unix-second timestamps, items
// become courses (each its own category, sorted by id), users members who
// join at their first interaction, and with a value column each row is also
// a retail transaction.
func TestInteractionsBuiltin(t *testing.T) {
	dir := t.TempDir()
	// 1709316000 is 2024-03-01T18:00:00Z.
	log := "user_id,item_id,timestamp,value\n" +
		"u2,i9,2024-03-02T08:00:00+01:00,0\n" +
		"u1,i42,1709316000,12.50\n" +
		"u1,i7,2024-03-03T10:00:00Z,3\n"
	withValue := filepath.Join(dir, "log.csv")
	if err := os.WriteFile(withValue, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	var plain strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		plain.WriteString(line[:strings.LastIndexByte(line, ',')] + "\n")
	}
	noValue := filepath.Join(dir, "plain.csv")
	if err := os.WriteFile(noValue, []byte(plain.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mapping, input string
		txs            int
	}{
		{"interactions", noValue, 0},
		{"interactions_value", withValue, 3},
	} {
		t.Run(tc.mapping, func(t *testing.T) {
			m, err := Builtin(tc.mapping)
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "data")
			rep, err := Import(m, []string{tc.input}, out, &Options{Format: "csv"})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Members != 2 || rep.Courses != 3 || rep.Visits != 3 || rep.Transactions != tc.txs {
				t.Fatalf("report %+v", rep)
			}
			d, err := datasets.OpenDir(out)
			if err != nil {
				t.Fatal(err)
			}
			courses := readTable[datasets.Course](t, d, datasets.TableCourses)
			var got []string
			for _, c := range courses {
				got = append(got, c.CourseID+"/"+c.Name+"/"+c.Category)
			}
			if want := "i42/i42/i42 i7/i7/i7 i9/i9/i9"; strings.Join(got, " ") != want {
				t.Errorf("courses %q, want %q", strings.Join(got, " "), want)
			}
			members := readTable[datasets.Member](t, d, datasets.TableMembers)
			joined := map[string]time.Time{}
			for _, m := range members {
				joined[m.MemberID] = m.JoinedAt
			}
			// u1's first interaction is the unix-second one; u2's is
			// 07:00 UTC.
			if !joined["u1"].Equal(time.Date(2024, 3, 1, 18, 0, 0, 0, time.UTC)) || !joined["u2"].Equal(time.Date(2024, 3, 2, 7, 0, 0, 0, time.UTC)) {
				t.Errorf("joined %v", joined)
			}
			atts := readTable[datasets.Attendance](t, d, datasets.TableAttendance)
			for _, a := range atts {
				if a.CourseID == "" || a.Source != datasets.SourceApp {
					t.Errorf("visit %+v", a)
				}
			}
		})
	}
}

func readTable[T datasets.Record](t *testing.T, d *datasets.Dir, tb datasets.Table) []T {
	t.Helper()
	p, err := d.Path(tb)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := datasets.ReadAll[T](p)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestDerivedCoursesErrors: a bad timestamp names its file, row and
// column; the mapping checks say where a derived course section is wrong.
func TestDerivedCoursesErrors(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "log.csv")
	if err := os.WriteFile(in, []byte("user_id,item_id,timestamp\nu1,i1,2024-03-01T10:00:00Z\nu1,i2,yesterday\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Builtin("interactions")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Import(m, []string{in}, filepath.Join(dir, "out"), nil)
	var re *datasets.RowError
	if !errors.As(err, &re) || re.Row != 2 || re.Column != "timestamp" || !errors.Is(err, datasets.ErrBadTimestamp) {
		t.Fatalf("got %v, want a bad timestamp in row 2, column timestamp", err)
	}

	base := `name: x
currency: USD
sources:
  - name: s
    format: csv
    attendance:
      member_id: user_id
      ts: timestamp
%s    courses:
%s    members:
      contract_type: {const: pay_as_you_go}
      home_club: {const: online}
`
	for _, tc := range []struct {
		name, attendance, courses, want string
	}{
		{"no course_id in the visits", "", "      category: item_id\n", "map attendance.course_id"},
		{"course_id mapped", "      course_id: item_id\n", "      course_id: item_id\n      category: item_id\n", "do not map it here"},
		{"no category", "      course_id: item_id\n", "      name: item_id\n", "category"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(strings.Replace(strings.Replace(base, "%s", tc.attendance, 1), "%s", tc.courses, 1)), "x.yaml")
			var me *MappingError
			if !errors.As(err, &me) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(me.Key, "courses") {
				t.Fatalf("got %v, want a mapping error at courses saying %q", err, tc.want)
			}
		})
	}
}
