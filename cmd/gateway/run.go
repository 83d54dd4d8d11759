package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/imgcloud/gateway/internal/push"
)

const usage = `gateway: imaging cloud gateway (DICOMweb over object storage)

Usage: gateway <command> [flags]

Commands:
  serve     run the gateway (DICOMweb at /dicomweb, health, metrics, viewer)
  push      upload a folder of DICOM files to any STOW-RS endpoint
  demo      load demo studies into a running gateway
  reindex   rebuild the index from object storage
  fsck      compare the index with object storage (--deep, --repair)
  token     create, list or revoke API tokens (through a running gateway)
  audit     verify, query or export the audit trail (through a running gateway)
  share     make a share link with a QR code for a study, or revoke one (through a running gateway)
  recognition  load or export institutions and the catalogue, print statistics (through a running gateway)
  help      show this help

Run "gateway <command> -h" for the flags of a command. Every flag can also
be set by an environment variable GATEWAY_<FLAG> (dashes as underscores).
`

// run dispatches to a subcommand and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stdout, stderr)
	case "push":
		err = push.Main(ctx, args[1:], stdout, stderr)
	case "demo":
		err = demoCmd(ctx, args[1:], stdout, stderr)
	case "reindex":
		err = reindex(ctx, args[1:], stdout, stderr)
	case "fsck":
		err = fsck(ctx, args[1:], stdout, stderr)
	case "token":
		err = tokenCmd(ctx, args[1:], stdout, stderr)
	case "audit":
		err = auditCmd(ctx, args[1:], stdout, stderr)
	case "share":
		err = shareCmd(ctx, args[1:], stdout, stderr)
	case "recognition":
		err = recognitionCmd(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "gateway %s: %v\n", args[0], err)
		return 1
	}
	return 0
}
