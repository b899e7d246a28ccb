package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

const mailingSize = 2000

// inFlightAtMost is how many emails can be in flight at once: one per
// delivery worker (delivery.workers in configs/default.yaml: 2
// transactional + 30 bulk); a worker gives its SMTP connection back
// before it waits for the "sent" mark, so with shared connections each
// worker can still have one accepted message not marked yet.
const inFlightAtMost = 32

func TestCrashInTheMiddleOfAMailingThenRestartDeliversEachEmailOnce(t *testing.T) {
	w := newWorld(t, mailingSize)
	first := w.start(t)
	id := first.createMailing(t)

	// Kill the process without a graceful stop in the middle of a batch
	// (pages are 100 recipients), a little after a fifth is out.
	deadline := time.Now().Add(60 * time.Second)
	for w.sink.Count() < mailingSize/5+50 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d emails before the crash deadline", w.sink.Count())
		}
		time.Sleep(time.Millisecond)
	}
	first.kill()
	atCrash := w.sink.Count()
	if atCrash >= mailingSize {
		t.Fatalf("the mailing finished before the crash (%d sent): nothing was proven", atCrash)
	}

	second := w.start(t)
	counters := second.waitCompleted(t, id, 120*time.Second)

	duplicates := duplicateSends(t, w)
	// A crash between the SMTP server's "250 queued" and the sent mark
	// resends the message each delivery worker had in flight, with the
	// same Message-ID (checked above); nothing else may be sent twice.
	if duplicates > inFlightAtMost {
		t.Errorf("%d duplicate sends after the crash, at most %d (one per delivery worker) expected", duplicates, inFlightAtMost)
	}
	if got := counters["sent"].(float64); got != mailingSize {
		t.Errorf("counters say %v sent, want %d", got, mailingSize)
	}
	t.Logf("crash after %d of %d emails; completed after restart with %d duplicate sends (same Message-ID)", atCrash, mailingSize, duplicates)
}

func TestTwoInstancesShareAMailingWithoutDuplicateSends(t *testing.T) {
	w := newWorld(t, mailingSize)
	a := w.start(t)
	b := w.start(t)
	id := a.createMailing(t)

	counters := b.waitCompleted(t, id, 120*time.Second)

	count, _ := perRecipient(w.sink.Messages())
	if len(count) != mailingSize {
		t.Fatalf("%d recipients got email, want %d", len(count), mailingSize)
	}
	for to, c := range count {
		if c != 1 {
			t.Errorf("%s got %d emails", to, c)
		}
	}
	if got := counters["sent"].(float64); got != mailingSize {
		t.Errorf("counters say %v sent, want %d", got, mailingSize)
	}
	for name, in := range map[string]*instance{"first": a, "second": b} {
		if !strings.Contains(in.logs.String(), "delivery batch processed") {
			t.Errorf("the %s instance delivered no batch: the work was not shared", name)
		}
	}
}

func TestGracefulStopInTheMiddleOfAMailingDrainsThenRestartCompletesIt(t *testing.T) {
	w := newWorld(t, mailingSize)
	first := w.start(t)
	id := first.createMailing(t)
	for w.sink.Count() < mailingSize/5+50 {
		time.Sleep(time.Millisecond)
	}

	if code := first.stop(t); code != 0 {
		t.Fatalf("graceful stop exited with %d", code)
	}
	atStop := w.sink.Count()
	if atStop%100 != 0 {
		t.Errorf("stopped after %d emails: the batch in flight (100 recipients a page) was not drained", atStop)
	}
	if !strings.Contains(first.logs.String(), "stopping notifier") {
		t.Fatal("the instance did not log its stop")
	}

	second := w.start(t)
	second.waitCompleted(t, id, 120*time.Second)
	count, _ := perRecipient(w.sink.Messages())
	if len(count) != mailingSize {
		t.Fatalf("%d recipients got email, want %d", len(count), mailingSize)
	}
	for to, c := range count {
		if c != 1 {
			t.Errorf("%s got %d emails", to, c)
		}
	}
	t.Logf("stopped after %d of %d emails; the restart completed the mailing with no duplicate", atStop, mailingSize)
}

// TestBrokerRestartInTheMiddleOfAMailingThenItCompletes restarts RabbitMQ
// itself, which disturbs every other test using it on the machine: it runs
// only with NOTIFIER_TEST_BROKER_RESTART=1, alone (.ci/run does so last).
func TestBrokerRestartInTheMiddleOfAMailingThenItCompletes(t *testing.T) {
	if os.Getenv("NOTIFIER_TEST_BROKER_RESTART") != "1" {
		t.Skip("restarts RabbitMQ for the whole machine: set NOTIFIER_TEST_BROKER_RESTART=1 to run it alone")
	}
	w := newWorld(t, mailingSize)
	in := w.start(t)
	id := in.createMailing(t)
	for w.sink.Count() < mailingSize/5 {
		time.Sleep(time.Millisecond)
	}

	for _, step := range [][]string{{"stop_app"}, {"start_app"}, {"await_startup"}} {
		if out, err := exec.Command("rabbitmqctl", step...).CombinedOutput(); err != nil {
			t.Fatalf("rabbitmqctl %s: %v\n%s", step[0], err, out)
		}
	}
	atRestart := w.sink.Count()

	counters := in.waitCompleted(t, id, 180*time.Second)
	duplicates := duplicateSends(t, w)
	if got := counters["sent"].(float64); got != mailingSize {
		t.Errorf("counters say %v sent, want %d", got, mailingSize)
	}
	t.Logf("broker restarted after %d of %d emails; the mailing completed with %d duplicate sends", atRestart, mailingSize, duplicates)
}

// duplicateSends checks that every recipient of the mailing got email, and
// only ever one message (one Message-ID), and returns how many sends beyond
// the first there were in all.
func duplicateSends(t *testing.T, w *world) int {
	t.Helper()
	count, ids := perRecipient(w.sink.Messages())
	if len(count) != mailingSize {
		t.Fatalf("%d recipients got email, want %d", len(count), mailingSize)
	}
	duplicates := 0
	for to, c := range count {
		if len(ids[to]) != 1 {
			t.Errorf("%s got %d different messages", to, len(ids[to]))
		}
		duplicates += c - 1
	}
	return duplicates
}
