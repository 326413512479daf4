package datasets

import (
	"fmt"
	"time"
)

// ContractType is the kind of membership contract a member holds.
type ContractType uint8

// Contract types. The zero value is invalid so that a missing value is caught.
const (
	ContractUnknown ContractType = iota
	ContractMonthly
	ContractAnnual
	ContractClassPack
	ContractStoredValue
	ContractPayAsYouGo
)

var contractNames = [...]string{"", "monthly", "annual", "class_pack", "stored_value", "pay_as_you_go"}

// ContractTypes lists the valid contract types in their canonical order.
var ContractTypes = []ContractType{ContractMonthly, ContractAnnual, ContractClassPack, ContractStoredValue, ContractPayAsYouGo}

func (c ContractType) String() string {
	if int(c) < len(contractNames) {
		return contractNames[c]
	}
	return fmt.Sprintf("ContractType(%d)", c)
}

// ParseContractType returns the contract type named s (as in String) or an
// error wrapping ErrUnknownValue.
func ParseContractType(s string) (ContractType, error) {
	for i, n := range contractNames {
		if i > 0 && n == s {
			return ContractType(i), nil
		}
	}
	return ContractUnknown, fmt.Errorf("%w %q for contract_type (want one of %v)", ErrUnknownValue, s, contractNames[1:])
}

// Source is how an attendance event was recorded.
type Source uint8

// Attendance sources. The zero value is invalid.
const (
	SourceUnknown Source = iota
	SourcePOS
	SourceApp
	SourceManual
)

var sourceNames = [...]string{"", "pos", "app", "manual"}

func (s Source) String() string {
	if int(s) < len(sourceNames) {
		return sourceNames[s]
	}
	return fmt.Sprintf("Source(%d)", s)
}

// ParseSource returns the source named s or an error wrapping ErrUnknownValue.
func ParseSource(s string) (Source, error) {
	for i, n := range sourceNames {
		if i > 0 && n == s {
			return Source(i), nil
		}
	}
	return SourceUnknown, fmt.Errorf("%w %q for source (want one of %v)", ErrUnknownValue, s, sourceNames[1:])
}

// TxKind is the kind of a money transaction.
type TxKind uint8

// Transaction kinds. The zero value is invalid.
const (
	TxUnknown TxKind = iota
	TxMembershipFee
	TxRenewal
	TxPTPackage
	TxClassPack
	TxTopUp
	TxRetail
	TxRefund
	TxFreeze
)

var txNames = [...]string{"", "membership_fee", "renewal", "pt_package", "class_pack", "top_up", "retail", "refund", "freeze"}

// TxKinds lists the valid transaction kinds in their canonical order.
var TxKinds = []TxKind{TxMembershipFee, TxRenewal, TxPTPackage, TxClassPack, TxTopUp, TxRetail, TxRefund, TxFreeze}

func (k TxKind) String() string {
	if int(k) < len(txNames) {
		return txNames[k]
	}
	return fmt.Sprintf("TxKind(%d)", k)
}

// ParseTxKind returns the kind named s or an error wrapping ErrUnknownValue.
func ParseTxKind(s string) (TxKind, error) {
	for i, n := range txNames {
		if i > 0 && n == s {
			return TxKind(i), nil
		}
	}
	return TxUnknown, fmt.Errorf("%w %q for kind (want one of %v)", ErrUnknownValue, s, txNames[1:])
}

// Genders lists the accepted values of Member.Gender; the empty string means
// not recorded.
var Genders = []string{"female", "male", "other"}

// Member is one row of the members table.
//
// Optional fields use their zero value for "not recorded": BirthYear 0,
// Gender "", ContractEnd the zero time (an open-ended contract), Channel "".
type Member struct {
	MemberID      string
	JoinedAt      time.Time // instant, UTC
	BirthYear     int
	Gender        string
	HomeClub      string
	ContractType  ContractType
	ContractStart time.Time // calendar date, midnight UTC
	ContractEnd   time.Time // calendar date, midnight UTC; zero = open-ended
	Channel       string    // acquisition channel, e.g. "walk_in", "web", "referral"
}

// Course is one row of the courses table: a class on the timetable.
//
// Optional fields use their zero value for "not recorded": Coach "", Club ""
// (all clubs), Weekday 0, StartTime "", Capacity 0.
type Course struct {
	CourseID  string
	Name      string
	Category  string
	Coach     string
	Club      string
	Weekday   int    // ISO weekday, 1 = Monday .. 7 = Sunday; 0 = not scheduled weekly
	StartTime string // local start time "HH:MM"
	Capacity  int
}

// Attendance is one visit: a check-in at the club, or a class attended.
type Attendance struct {
	EventID     string
	MemberID    string
	TS          time.Time // instant, UTC
	CourseID    string    // empty = open gym (no class)
	DurationMin int
	Source      Source
}

// Transaction is one money movement on a member's account.
//
// Amount is in exact minor units of the dataset's currency (cents for EUR or
// USD): 1999 is 19.99. Refunds are negative; every other kind is >= 0.
type Transaction struct {
	EventID  string
	MemberID string
	TS       time.Time // instant, UTC
	Amount   int64     // minor units
	Kind     TxKind
}

// Record is the set of canonical row types.
type Record interface {
	Member | Course | Attendance | Transaction
}

// Table names a canonical table.
type Table string

// The canonical tables, named as their files are.
const (
	TableMembers      Table = "members"
	TableCourses      Table = "courses"
	TableAttendance   Table = "attendance"
	TableTransactions Table = "transactions"
)

// Tables lists the canonical tables in dependency order.
var Tables = []Table{TableMembers, TableCourses, TableAttendance, TableTransactions}

// TableOf returns the table that holds rows of type T.
func TableOf[T Record]() Table {
	var z T
	switch any(z).(type) {
	case Member:
		return TableMembers
	case Course:
		return TableCourses
	case Attendance:
		return TableAttendance
	default:
		return TableTransactions
	}
}

// Columns returns the canonical column names of table t, in file order.
func Columns(t Table) []string {
	switch t {
	case TableMembers:
		return []string{"member_id", "joined_at", "birth_year", "gender", "home_club", "contract_type", "contract_start", "contract_end", "channel"}
	case TableCourses:
		return []string{"course_id", "name", "category", "coach", "club", "weekday", "start_time", "capacity"}
	case TableAttendance:
		return []string{"event_id", "member_id", "ts", "course_id", "duration_min", "source"}
	case TableTransactions:
		return []string{"event_id", "member_id", "ts", "amount", "kind"}
	}
	return nil
}

// Date returns midnight UTC of the calendar day of t (in UTC).
func Date(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
