package retainv1_test

import (
	"context"
	"testing"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"

	retainv1 "retain/proto/retain/v1"
)

// TestGeneratedMatchesProto fails when retain.proto was edited without
// running `make proto`: it compiles the .proto with protocompile (the pure-Go
// compiler inside buf) and compares the result with the descriptor embedded
// in the committed retain.pb.go. `make proto-check` does the full byte
// comparison of every generated file; this test is the cheap guard that runs
// in `make test`.
func TestGeneratedMatchesProto(t *testing.T) {
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: []string{"../.."}}),
	}
	files, err := c.Compile(context.Background(), "retain/v1/retain.proto")
	if err != nil {
		t.Fatalf("compile retain.proto: %v", err)
	}
	got := protodesc.ToFileDescriptorProto(files[0])
	want := protodesc.ToFileDescriptorProto(retainv1.File_retain_v1_retain_proto)
	for _, fd := range []*descriptorpb.FileDescriptorProto{got, want} {
		fd.SourceCodeInfo = nil
	}
	if !proto.Equal(got, want) {
		t.Errorf("retain.proto and the committed retain.pb.go disagree: run `make proto` and commit the result")
	}
}
