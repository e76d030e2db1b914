package main

import (
	"context"
	"flag"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/outpost-dev/outpost/outpostapi/devcore"
)

func devcoreCommand(args []string) error {
	fs := flag.NewFlagSet("devcore", flag.ContinueOnError)
	configPath := fs.String("config", "", "devcore YAML file (required)")
	listen := fs.String("listen", "", "address to listen on (default: the file's listen, else 127.0.0.1:9080)")
	if err := parseFlags(fs, args, devcoreHelp, 0); err != nil {
		return err
	}
	if *configPath == "" {
		return usageError("--config FILE is required (outpost devcore --help)")
	}
	cfg, err := devcore.LoadConfig(*configPath)
	if err != nil {
		return err
	}
	addr := firstNonEmpty(*listen, cfg.Listen, "127.0.0.1:9080")
	log := newLogger(os.Stderr, false, new(slog.LevelVar))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv, err := devcore.New(cfg, devcore.Options{Logger: log})
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
