package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// envFlags is a command's flag set in which flags may also be set by a
// RECTIFY_* environment variable: the variable replaces the built-in
// default, and the command line overrides both. -h shows the built-in
// default and names the variable.
type envFlags struct {
	*flag.FlagSet
	env []envBinding
}

type envBinding struct{ flag, env string }

func newEnvFlags(name string, stderr io.Writer) *envFlags {
	return &envFlags{FlagSet: newFlagSet(name, stderr)}
}

// bind makes the environment variable env set the flag name, which must
// already be defined.
func (f *envFlags) bind(name, env string) {
	fl := f.Lookup(name)
	if fl == nil {
		panic("envFlags.bind: no flag " + name)
	}
	fl.Usage += " (" + env + ")"
	f.env = append(f.env, envBinding{name, env})
}

// parse applies the environment, then the command line. A variable that
// does not parse is an error naming it.
func (f *envFlags) parse(args []string) error {
	for _, b := range f.env {
		v, ok := os.LookupEnv(b.env)
		if !ok || v == "" {
			continue
		}
		if err := f.Set(b.flag, v); err != nil {
			return usageError{fmt.Sprintf("%s=%q: %v", b.env, v, err)}
		}
	}
	if err := f.Parse(args); err != nil {
		return err
	}
	if f.NArg() > 0 {
		return usageError{fmt.Sprintf("%s takes no arguments, got %q", f.Name(), f.Args())}
	}
	return nil
}

// listFlag is a comma-separated list of strings.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	*l = nil
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}
