// Wrapper module: builds the Temporal CLI (scripts/setup.sh), and the Temporal server, its SQL
// tool and the UI server (scripts/setup-temporal-cluster.sh) with ONE dependency graph, the CLI's.
// Built with `go install <pkg>@<version>` each would resolve its own go.mod, and the server's picks
// other versions of grpc, protobuf and the Temporal API than the CLI's, so nearly every package
// compiled twice (12 minutes cold). From here the server reuses the CLI's compiled packages.
// The CLI v1.5.1 embeds server v1.29.1 and UI server v2.42.1; keep the versions in both scripts in step.
// No source of our own: `go build` compiles the upstream main packages named on its command line.
module tenant-fleet/temporal-tools

go 1.25.0

require github.com/temporalio/cli v1.5.1

require (
	github.com/temporalio/ui-server/v2 v2.42.1 // indirect
	go.temporal.io/server v1.29.1 // indirect
)
