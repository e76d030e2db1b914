package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/outpost-dev/outpost/internal/devcore"
)

func devcoreCommand(args []string) error {
	fs := flag.NewFlagSet("devcore", flag.ContinueOnError)
	configPath := fs.String("config", "", "devcore YAML file (required)")
	listen := fs.String("listen", "", "address to listen on (default: the file's listen, else 127.0.0.1:9080)")
	coreVersion := fs.String("core-version", "", "authentik release to speak as, over the file's core_version: "+strings.Join(devcore.CoreVersions(), ", ")+" (default: the file's, else "+devcore.DefaultCoreVersion+")")
	if err := parseFlags(fs, args, devcoreHelp, 0); err != nil {
		return err
	}
	if *configPath == "" {
		return usageError("--config FILE is required (outpost devcore --help)")
	}
	if *coreVersion != "" && !slices.Contains(devcore.CoreVersions(), *coreVersion) {
		return usageError(fmt.Sprintf("--core-version %q: want one of %s", *coreVersion, strings.Join(devcore.CoreVersions(), ", ")))
	}
	cfg, err := devcore.LoadConfig(*configPath)
	if err != nil {
		return err
	}
	addr := firstNonEmpty(*listen, cfg.Listen, "127.0.0.1:9080")
	log := newLogger(os.Stderr, false, new(slog.LevelVar))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv, err := devcore.New(cfg, devcore.Options{Logger: log, CoreVersion: *coreVersion})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	log.Info("devcore listening", "address", ln.Addr().String(), "config", *configPath)
	go func() {
		if err := srv.WatchFile(ctx, *configPath); err != nil {
			log.Error("watching configuration", "error", err)
		}
	}()
	return srv.Serve(ctx, ln)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
