package printers

import (
	"strings"
	"testing"
)

func TestOneLine(t *testing.T) {
	// What strings.NewReplacer("\t", " ", "\r\n", " ", "\n", " ", "\r", " ")
	// does, which oneLine replaces.
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"a\tb", "a b"},
		{"two\nlines", "two lines"},
		{"crlf\r\nline", "crlf line"},
		{"cr\rline", "cr line"},
		{"\n\r\r\n\t", "    "},
		{"end\r", "end "},
		{"é\t€\n\xff", "é € \xff"},
	}
	for _, tt := range tests {
		if got := oneLine(tt.in); got != tt.want {
			t.Errorf("oneLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
		old := strings.NewReplacer("\t", " ", "\r\n", " ", "\n", " ", "\r", " ")
		if got := old.Replace(tt.in); got != tt.want {
			t.Errorf("replacer(%q) = %q, want %q: the test's expectation is wrong", tt.in, got, tt.want)
		}
	}
}
