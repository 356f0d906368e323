package lazy

import (
	"errors"
	"testing"
)

func TestValue(t *testing.T) {
	var l Value[*int]
	builds := 0
	fail := errors.New("no")
	build := func(err error) func() (*int, error) {
		return func() (*int, error) {
			builds++
			if err != nil {
				return nil, err
			}
			v := builds
			return &v, nil
		}
	}
	if _, err := l.Get(build(fail)); err != fail {
		t.Fatalf("failed build: %v", err)
	}
	a, err := l.Get(build(nil)) // the failure is not remembered
	if err != nil || *a != 2 {
		t.Fatalf("Get = %v, %v", a, err)
	}
	if b, _ := l.Get(build(nil)); b != a || builds != 2 {
		t.Fatalf("second Get built again (%d builds)", builds)
	}
	l.Set(nil)
	if c, _ := l.Get(build(nil)); c == a || *c != 3 {
		t.Fatal("Get after Set(nil) did not build again")
	}
}
