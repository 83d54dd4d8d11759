package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

const usage = `gateway: imaging cloud gateway (DICOMweb over object storage)

Usage: gateway <command> [flags]

Commands:
  serve        run the gateway (DICOMweb at /dicomweb, health, metrics, viewer)
  push         upload a folder of DICOM files with STOW-RS
  demo         load the demo studies into a running gateway
  reindex      rebuild the index from object storage (gateway stopped)
  fsck         compare the index with object storage (gateway stopped; --deep, --repair)
  token        create, list or revoke API tokens; reset-admin when the admin token is lost
  audit        verify, query or export the audit trail
  share        make a share link with a QR code for a study, or revoke one
  recognition  load or export institutions and the catalogue, print statistics
  dicom        the gateway's DICOM SCU: echo, store, find or move with a PACS
  help         show this help

Example:
  gateway serve --demo
  GATEWAY_TOKEN=gw_... gateway token create --role pacs --institution bj-pumch

Run "gateway <command> -h" for a command's summary, example and flags.
The clients of a running gateway (push, demo, token, audit, share,
recognition) take its site root (--url or GATEWAY_URL, default
http://127.0.0.1:8080; they find /dicomweb themselves) and a token
(GATEWAY_TOKEN or --token). Every flag can also be set by an environment
variable GATEWAY_<FLAG> (dashes as underscores).
`

// run dispatches to a subcommand and returns the process exit code: 0,
// 1 for a failure, 2 for a usage error.
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
		err = pushCmd(ctx, args[1:], stdout, stderr)
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
	case "dicom":
		err = dicomCmd(ctx, args[1:], stdout, stderr) // dicomscu.go
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "gateway %s: %s\n", args[0], strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
		return 2
	}
	fmt.Fprintf(stderr, "gateway %s: %v\n", args[0], err)
	return 1
}
