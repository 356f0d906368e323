package app

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/flmctl/flmctl/pkg/client"
)

// Manifest is one application document in upstream Flame's YAML format.
type Manifest struct {
	APIVersion string         `yaml:"apiVersion,omitempty" json:"apiVersion,omitempty"`
	Kind       string         `yaml:"kind,omitempty" json:"kind,omitempty"`
	Metadata   Metadata       `yaml:"metadata" json:"metadata"`
	Spec       Spec           `yaml:"spec" json:"spec"`
	Status     *ManifestState `yaml:"status,omitempty" json:"status,omitempty"`
}

// Metadata names the application.
type Metadata struct {
	Name string `yaml:"name" json:"name"`
}

// ManifestState is what the cluster reports about an application; it is
// printed by "app get" and ignored when registering.
type ManifestState struct {
	State        string `yaml:"state,omitempty" json:"state,omitempty"`
	CreationTime string `yaml:"creation_time,omitempty" json:"creation_time,omitempty"`
}

// Spec is the application's spec, with upstream's field names.
type Spec struct {
	Shim             string            `yaml:"shim,omitempty" json:"shim,omitempty"`
	Image            string            `yaml:"image,omitempty" json:"image,omitempty"`
	Description      string            `yaml:"description,omitempty" json:"description,omitempty"`
	Labels           []string          `yaml:"labels,omitempty" json:"labels,omitempty"`
	Command          string            `yaml:"command,omitempty" json:"command,omitempty"`
	Arguments        []string          `yaml:"arguments,omitempty" json:"arguments,omitempty"`
	Environments     map[string]string `yaml:"environments,omitempty" json:"environments,omitempty"`
	WorkingDirectory string            `yaml:"working_directory,omitempty" json:"working_directory,omitempty"`
	MaxInstances     *uint32           `yaml:"max_instances,omitempty" json:"max_instances,omitempty"`
	// DelayRelease is in seconds; a duration such as "1m" is accepted too.
	DelayRelease *Seconds `yaml:"delay_release,omitempty" json:"delay_release,omitempty"`
	Schema       *Schema  `yaml:"schema,omitempty" json:"schema,omitempty"`
	URL          string   `yaml:"url,omitempty" json:"url,omitempty"`
	Installer    string   `yaml:"installer,omitempty" json:"installer,omitempty"`
}

// Schema holds the JSON Schema documents of an application.
type Schema struct {
	Input      string `yaml:"input,omitempty" json:"input,omitempty"`
	Output     string `yaml:"output,omitempty" json:"output,omitempty"`
	CommonData string `yaml:"common_data,omitempty" json:"common_data,omitempty"`
}

// Seconds is a whole number of seconds, written as an integer; YAML may also
// give a Go duration such as "90s".
type Seconds int64

// UnmarshalYAML accepts an integer or a duration string.
func (s *Seconds) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: delay_release must be a number of seconds", n.Line)
	}
	if v, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
		*s = Seconds(v)
		return nil
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil || d%time.Second != 0 {
		return fmt.Errorf("line %d: delay_release %q is not a whole number of seconds (e.g. 60 or \"1m\")", n.Line, n.Value)
	}
	*s = Seconds(d / time.Second)
	return nil
}

// parseManifests reads one or more documents separated by "---". name is the
// file's name for messages.
func parseManifests(name string, data []byte) ([]Manifest, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var out []Manifest
	for i := 1; ; i++ {
		var m Manifest
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// yaml.v3 names our Go types ("in type app.Spec"); readers know the
			// fields. Compiled here, not at init: only a failing run needs it.
			msg := regexp.MustCompile(` in type [\w.]+`).ReplaceAllString(err.Error(), "")
			return nil, fmt.Errorf("%s: document %d: %s", name, i, msg)
		}
		if m.Metadata.Name == "" {
			return nil, fmt.Errorf("%s: document %d has no metadata.name", name, i)
		}
		if m.Kind != "" && !strings.EqualFold(m.Kind, "Application") {
			return nil, fmt.Errorf("%s: document %d is a %q, not an Application", name, i, m.Kind)
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no application documents", name)
	}
	return out, nil
}

// attributes converts the spec for the client.
func (s Spec) attributes() (client.ApplicationAttributes, error) {
	a := client.ApplicationAttributes{
		Image:            s.Image,
		Description:      s.Description,
		Labels:           s.Labels,
		Command:          s.Command,
		Arguments:        s.Arguments,
		Environments:     s.Environments,
		WorkingDirectory: s.WorkingDirectory,
		MaxInstances:     s.MaxInstances,
		URL:              s.URL,
		Installer:        s.Installer,
	}
	if s.Shim != "" {
		shim, err := client.ParseShim(s.Shim)
		if err != nil {
			return a, err
		}
		a.Shim = shim
	}
	if s.DelayRelease != nil {
		if *s.DelayRelease < 0 {
			return a, fmt.Errorf("delay_release %d is negative", *s.DelayRelease)
		}
		a.DelayRelease = new(time.Duration(*s.DelayRelease) * time.Second)
	}
	if s.Schema != nil {
		a.Schema = &client.ApplicationSchema{Input: s.Schema.Input, Output: s.Schema.Output, CommonData: s.Schema.CommonData}
	}
	return a, nil
}

// manifestOf describes a registered application as a manifest that
// "app register -f" accepts back.
func manifestOf(a *client.Application) Manifest {
	s := Spec{
		Shim:             a.Shim.String(),
		Image:            a.Image,
		Description:      a.Description,
		Labels:           a.Labels,
		Command:          a.Command,
		Arguments:        a.Arguments,
		WorkingDirectory: a.WorkingDirectory,
		MaxInstances:     a.MaxInstances,
		URL:              a.URL,
		Installer:        a.Installer,
	}
	if len(a.Environments) > 0 {
		s.Environments = maps.Clone(a.Environments)
	}
	if a.DelayRelease != nil {
		s.DelayRelease = new(Seconds(*a.DelayRelease / time.Second))
	}
	if sc := a.Schema; sc != nil && (sc.Input != "" || sc.Output != "" || sc.CommonData != "") {
		s.Schema = &Schema{Input: sc.Input, Output: sc.Output, CommonData: sc.CommonData}
	}
	st := &ManifestState{State: a.State.String()}
	if !a.CreationTime.IsZero() {
		st.CreationTime = a.CreationTime.UTC().Format(time.RFC3339)
	}
	return Manifest{Metadata: Metadata{Name: a.Name}, Spec: s, Status: st}
}

func formatUint(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
