package datasets

import (
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// attendanceGen makes plausible attendance rows from a seeded PCG: ids
// "e<n>", members "m<k>" of a fixed population, 40% open-gym visits, the
// rest in one of 200 courses, timestamps over two years at microsecond
// resolution.
type attendanceGen struct {
	rng     *rand.Rand
	members []string
	courses []string
	next    int
	start   time.Time
}

func newAttendanceGen(seed uint64, members int) *attendanceGen {
	g := &attendanceGen{
		rng:   rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		start: time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for i := range members {
		g.members = append(g.members, fmt.Sprintf("m%06d", i))
	}
	for i := range 200 {
		g.courses = append(g.courses, fmt.Sprintf("c%03d", i))
	}
	return g
}

func (g *attendanceGen) fill(rows []Attendance) {
	const span = 2 * 365 * 24 * time.Hour
	for i := range rows {
		g.next++
		a := Attendance{
			EventID:     "e" + strconv.Itoa(g.next),
			MemberID:    g.members[g.rng.IntN(len(g.members))],
			TS:          g.start.Add(time.Duration(g.rng.Int64N(int64(span))).Truncate(time.Microsecond)),
			DurationMin: 30 + g.rng.IntN(90),
			Source:      Source(1 + g.rng.IntN(3)),
		}
		if g.rng.IntN(10) >= 4 {
			a.CourseID = g.courses[g.rng.IntN(len(g.courses))]
		}
		rows[i] = a
	}
}

const benchRows = 1_000_000

// writeBenchTable writes benchRows attendance rows to path.
func writeBenchTable(b *testing.B, path string) {
	w, err := CreateTable[Attendance](path, nil)
	if err != nil {
		b.Fatal(err)
	}
	gen := newAttendanceGen(1, 50_000)
	chunk := make([]Attendance, 8192)
	for done := 0; done < benchRows; done += len(chunk) {
		gen.fill(chunk)
		if _, err := w.Write(chunk[:min(len(chunk), benchRows-done)]); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}

func benchRead(b *testing.B, path string) {
	buf := make([]Attendance, 4096)
	b.ResetTimer()
	for b.Loop() {
		r, err := OpenTable[Attendance](path, nil)
		if err != nil {
			b.Fatal(err)
		}
		total := 0
		for {
			n, err := r.Read(buf)
			total += n
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		r.Close()
		if total != benchRows {
			b.Fatalf("read %d rows, want %d", total, benchRows)
		}
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkParquetReadAttendance(b *testing.B) {
	path := filepath.Join(b.TempDir(), "attendance.parquet")
	writeBenchTable(b, path)
	benchRead(b, path)
}

func BenchmarkCSVReadAttendance(b *testing.B) {
	path := filepath.Join(b.TempDir(), "attendance.csv")
	writeBenchTable(b, path)
	benchRead(b, path)
}

func BenchmarkParquetWriteAttendance(b *testing.B) {
	rows := make([]Attendance, benchRows)
	newAttendanceGen(1, 50_000).fill(rows)
	path := filepath.Join(b.TempDir(), "attendance.parquet")
	b.ResetTimer()
	for b.Loop() {
		w, err := CreateTable[Attendance](path, nil)
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < len(rows); i += 8192 {
			if _, err := w.Write(rows[i:min(i+8192, len(rows))]); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
