package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// hashPasswordCommand prints the bcrypt hash of the first line of in, for
// the password_hash and app_passwords fields of a devcore YAML file.
func hashPasswordCommand(args []string, in io.Reader, out io.Writer) error {
	if err := parseFlags(flag.NewFlagSet("hash-password", flag.ContinueOnError), args, hashPasswordHelp, 0); err != nil {
		return err
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return errors.New("no password on standard input")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, string(h))
	return err
}
