package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

func TestPasswd(t *testing.T) {
	var out, errOut bytes.Buffer
	code := runWithInput([]string{"passwd", "--cost", "4"}, strings.NewReader("s3cret\nignored\n"), &out, &errOut)
	require.Equal(t, 0, code, errOut.String())
	hash := strings.TrimSpace(out.String())
	require.NoError(t, bcrypt.CompareHashAndPassword([]byte(hash), []byte("s3cret")))
	require.NotContains(t, out.String()+errOut.String(), "s3cret")

	out.Reset()
	require.Equal(t, 0, runWithInput([]string{"passwd"}, strings.NewReader("pw"), &out, &errOut), "no newline is fine")
	cost, err := bcrypt.Cost(bytes.TrimSpace(out.Bytes()))
	require.NoError(t, err)
	require.Equal(t, DefaultBcryptCost, cost)

	for name, args := range map[string][]string{"bad cost": {"passwd", "--cost", "99"}, "argument": {"passwd", "x"}} {
		require.Equal(t, 2, runWithInput(args, strings.NewReader("pw\n"), &out, &errOut), name)
	}
	for name, in := range map[string]string{"empty": "\n", "too long": strings.Repeat("x", 73) + "\n"} {
		errOut.Reset()
		require.Equal(t, 1, runWithInput([]string{"passwd"}, strings.NewReader(in), &out, &errOut), name)
		require.NotEmpty(t, errOut.String())
	}
	errOut.Reset()
	require.Equal(t, 0, runWithInput([]string{"passwd", "--help"}, strings.NewReader(""), &out, &errOut))
	require.Contains(t, errOut.String(), "bcrypt hash")
	errOut.Reset()
	require.Equal(t, 0, runWithInput([]string{"--help"}, strings.NewReader(""), &out, &errOut))
	require.Contains(t, errOut.String(), "rollcall passwd")
}
