package liveapp

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/mxreplace/mx/internal/demoapp"
)

// FlagError is an error in the command line; [Exit] reports it with exit
// status 2.
type FlagError struct {
	Err      error
	reported bool // already printed by the flag package, with the usage
}

func (e *FlagError) Error() string { return e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

// RegisterAddr defines -addr on fs (default demoapp.DefaultAddr), storing
// into addr.
func RegisterAddr(fs *flag.FlagSet, addr *string) {
	fs.StringVar(addr, "addr", demoapp.DefaultAddr, "listen on `host:port`")
}

// Parse parses args with fs, which should use flag.ContinueOnError, and
// then runs validate. Errors are *FlagError (wrapping flag.ErrHelp for
// -help); positional arguments are an error.
func Parse(fs *flag.FlagSet, args []string, validate func() error) error {
	if err := fs.Parse(args); err != nil {
		return &FlagError{Err: err, reported: true}
	}
	if fs.NArg() > 0 {
		return &FlagError{Err: fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	if err := validate(); err != nil {
		return &FlagError{Err: err}
	}
	return nil
}

// Exit ends the command name after err: nothing for nil, status 0 for
// -help, status 2 for a *FlagError and 1 for other errors, printed to
// stderr as "name: err" unless the flag package printed them already.
func Exit(name string, err error) {
	var fe *FlagError
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.As(err, &fe):
		if !fe.reported {
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		}
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}
