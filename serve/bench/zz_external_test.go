package bench

import (
	"context"
	"os"
	"testing"
	"time"

	retainv1 "retain/proto/retain/v1"
	"retain/serve/client"

	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestExternalScore(t *testing.T) {
	addr := os.Getenv("RETAIN_EXT_ADDR")
	if addr == "" {
		t.Skip("no RETAIN_EXT_ADDR")
	}
	c, err := client.Dial(addr, &client.Options{Token: os.Getenv("RETAIN_EXT_TOKEN"), Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl := retainv1.NewRetainServiceClient(c.Conn())
	asOf := timestamppb.New(time.Date(2025, 12, 29, 0, 0, 0, 0, time.UTC))
	for _, m := range []string{"score", "recommend", "info"} {
		res, err := Run(context.Background(), Config{Rate: 1000, Duration: 10 * time.Second}, func(ctx context.Context, i int) error {
			id := "M" + padInt(1+i%5000)
			switch m {
			case "score":
				_, err := cl.ScoreMember(ctx, &retainv1.ScoreMemberRequest{Subject: &retainv1.ScoreMemberRequest_MemberId{MemberId: id}, AsOf: asOf})
				return err
			case "recommend":
				_, err := cl.RecommendClasses(ctx, &retainv1.RecommendClassesRequest{Subject: &retainv1.RecommendClassesRequest_MemberId{MemberId: id}, AsOf: asOf})
				return err
			}
			_, err := cl.GetModelInfo(ctx, &retainv1.GetModelInfoRequest{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %v first err %v", m, res, res.FirstErr)
	}
}

func padInt(i int) string {
	s := "000000" + itoa(i)
	return s[len(s)-6:]
}

func itoa(i int) string {
	b := []byte{}
	for i > 0 {
		b = append([]byte{byte('0' + i%10)}, b...)
		i /= 10
	}
	return string(b)
}
