package iostreams

// ColorScheme wraps text in ANSI color sequences when color is enabled and
// returns it unchanged otherwise, so callers never branch on color.
type ColorScheme struct {
	enabled bool
}

// Enabled reports whether the scheme adds color.
func (c *ColorScheme) Enabled() bool { return c.enabled }

func (c *ColorScheme) wrap(code, s string) string {
	if !c.enabled || s == "" {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// Bold renders s in bold.
func (c *ColorScheme) Bold(s string) string { return c.wrap("1", s) }

// Green renders s in green (success).
func (c *ColorScheme) Green(s string) string { return c.wrap("32", s) }

// Yellow renders s in yellow (warnings).
func (c *ColorScheme) Yellow(s string) string { return c.wrap("33", s) }

// Red renders s in red (failures).
func (c *ColorScheme) Red(s string) string { return c.wrap("31", s) }

// Gray renders s dimmed (secondary information).
func (c *ColorScheme) Gray(s string) string { return c.wrap("90", s) }
