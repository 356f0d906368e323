package contexts

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzParseMarshal checks that no input makes loading or saving panic, and
// that whatever loads is saved so that it reads back the same, also after
// an edit.
func FuzzParseMarshal(f *testing.F) {
	for _, name := range []string{"edit.yaml", "anchors.yaml", "indent4.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(twoContexts))
	f.Add([]byte("contexts: []\n"))
	f.Add([]byte("~\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := parse("flame.yaml", data)
		if err != nil {
			return
		}
		_ = file.Validate()
		file.SetContext(Context{Name: "fuzz", Cluster: ClusterConfig{Endpoint: DefaultEndpoint}})
		if err := file.UseContext("fuzz"); err != nil {
			t.Fatal(err)
		}
		saved, err := file.marshal()
		if err != nil {
			t.Fatalf("marshal() error = %v", err)
		}
		back, err := parse("flame.yaml", saved)
		if err != nil {
			t.Fatalf("parse(saved) error = %v\ninput:\n%s\nsaved:\n%s", err, data, saved)
		}
		if diff := cmp.Diff(file, back, cmpopts.IgnoreUnexported(File{})); diff != "" {
			t.Fatalf("reparsed mismatch (-saved +reparsed):\n%s\ninput:\n%s\nsaved:\n%s", diff, data, saved)
		}
	})
}
