package testenv

import (
	"mime"
	"net"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sendPlain sends a UTF-8 text message with the standard library's client,
// independent of the adapter the real tests check.
func sendPlain(addr, to, subject, messageID, body string) error {
	msg := strings.Join([]string{
		"From: Tester <tester@notifier.test>",
		"To: " + to,
		"Subject: " + mime.QEncoding.Encode("utf-8", subject),
		"Message-ID: <" + messageID + ">",
		"MIME-Version: 1.0",
		"Content-Type: text/plain; charset=utf-8",
		"Content-Transfer-Encoding: 8bit",
		"",
		body,
	}, "\r\n")
	return smtp.SendMail(addr, nil, "tester@notifier.test", []string{to}, []byte(msg))
}

func TestMailpitShowsWhatItWasSentOldestFirst(t *testing.T) {
	t.Parallel()
	mp := Mailpit(t)

	if err := sendPlain(mp.SMTPAddr(), "anna@example.com", "Первое письмо", "first@notifier.test", "Здравствуйте, Анна!"); err != nil {
		t.Fatalf("send first: %v", err)
	}
	if err := sendPlain(mp.SMTPAddr(), "boris@example.com", "Второе письмо", "second@notifier.test", "Здравствуйте, Борис!"); err != nil {
		t.Fatalf("send second: %v", err)
	}

	msgs := mp.WaitForMessages(t, 2)
	if len(msgs) != 2 {
		t.Fatalf("got %d messages, want 2", len(msgs))
	}
	first := msgs[0]
	if first.Subject != "Первое письмо" || first.MessageID != "first@notifier.test" ||
		len(first.To) != 1 || first.To[0].Address != "anna@example.com" {
		t.Fatalf("first message = %+v", first)
	}
	if msgs[1].Subject != "Второе письмо" {
		t.Fatalf("second message = %+v", msgs[1])
	}

	d := mp.Message(t, first.ID)
	if strings.TrimSpace(d.Text) != "Здравствуйте, Анна!" || d.HTML != "" {
		t.Fatalf("parts: text %q, html %q", d.Text, d.HTML)
	}
	if got := d.Headers.Get("Message-ID"); got != "<first@notifier.test>" {
		t.Fatalf("Message-ID header = %q", got)
	}
	if got := d.Headers.Get("subject"); !strings.HasPrefix(got, "=?utf-8?") {
		t.Fatalf("Subject header = %q, want it as sent (encoded)", got)
	}
}

func TestMailpitStoppedRefusesConnectionsAndKeepsItsMessagesWhenStartedAgain(t *testing.T) {
	t.Parallel()
	mp := Mailpit(t)
	if err := sendPlain(mp.SMTPAddr(), "anna@example.com", "До", "before@notifier.test", "1"); err != nil {
		t.Fatalf("send: %v", err)
	}
	addr := mp.SMTPAddr()

	mp.Stop(t)
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		_ = conn.Close()
		t.Fatal("a stopped Mailpit still accepts connections")
	}

	mp.Start(t)
	if mp.SMTPAddr() != addr {
		t.Fatalf("restarted on %s, was %s", mp.SMTPAddr(), addr)
	}
	if err := sendPlain(mp.SMTPAddr(), "anna@example.com", "После", "after@notifier.test", "2"); err != nil {
		t.Fatalf("send after restart: %v", err)
	}
	msgs := mp.WaitForMessages(t, 2)
	if msgs[0].Subject != "До" || msgs[1].Subject != "После" {
		t.Fatalf("messages = %+v", msgs)
	}
}

func TestMailpitTakesExtraFlags(t *testing.T) {
	t.Parallel()
	mp := Mailpit(t, "--smtp-allowed-recipients", `@example\.com$`)

	err := sendPlain(mp.SMTPAddr(), "gone@elsewhere.test", "Нет", "refused@notifier.test", "x")
	if err == nil || !strings.HasPrefix(err.Error(), "550") {
		t.Fatalf("a recipient outside the allowed ones: err = %v, want a 550 answer", err)
	}
	if got := mp.Messages(t); len(got) != 0 {
		t.Fatalf("messages = %+v, want none", got)
	}
}

func TestMailpitBinaryIsFoundInPATHOrGoBinElseTheErrorSaysHowToInstallIt(t *testing.T) {
	empty := t.TempDir()
	t.Setenv("PATH", empty)
	gopath := t.TempDir()

	_, err := findMailpit("", gopath)
	if err == nil || !strings.Contains(err.Error(), "install-mailpit.sh") ||
		!strings.Contains(err.Error(), filepath.Join(gopath, "bin")) {
		t.Fatalf("err = %v, want the directories searched and the install script", err)
	}

	bin := filepath.Join(gopath, "bin", "mailpit")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := findMailpit("", empty+string(filepath.ListSeparator)+gopath); err != nil || got != bin {
		t.Fatalf("findMailpit = %q, %v; want %s", got, err, bin)
	}

	if err := os.WriteFile(filepath.Join(empty, "mailpit"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := findMailpit("", gopath); err != nil || got != filepath.Join(empty, "mailpit") {
		t.Fatalf("findMailpit = %q, %v; want the one in PATH first", got, err)
	}
}
