package testenv

import (
	"os/exec"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

// AMQPPrefix returns a name prefix unique to t for the exchanges and
// queues it creates, and deletes them all when t ends, so that reruns do
// not pile up durable queues on the broker. The names are listed with
// rabbitmqctl (present where the broker runs locally); without it the
// clean-up is skipped with a log line.
func AMQPPrefix(t testing.TB, amqpURL string) string {
	t.Helper()
	prefix := Name("nt")
	t.Cleanup(func() { deleteAMQPNames(t, amqpURL, prefix) })
	return prefix
}

func deleteAMQPNames(t testing.TB, amqpURL, prefix string) {
	list := func(what string) []string {
		out, err := exec.Command("rabbitmqctl", "-q", "list_"+what, "name", "--no-table-headers").Output()
		if err != nil {
			t.Logf("not cleaning up %s %s*: %v", what, prefix, err)
			return nil
		}
		var names []string
		for _, name := range strings.Split(string(out), "\n") {
			if name = strings.TrimSpace(name); strings.HasPrefix(name, prefix) {
				names = append(names, name)
			}
		}
		return names
	}
	queues, exchanges := list("queues"), list("exchanges")
	if len(queues)+len(exchanges) == 0 {
		return
	}
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		t.Logf("not cleaning up %s*: %v", prefix, err)
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Logf("not cleaning up %s*: %v", prefix, err)
		return
	}
	defer ch.Close()
	for _, q := range queues {
		if _, err := ch.QueueDelete(q, false, false, false); err != nil {
			t.Logf("delete queue %s: %v", q, err)
			return
		}
	}
	for _, x := range exchanges {
		if err := ch.ExchangeDelete(x, false, false); err != nil {
			t.Logf("delete exchange %s: %v", x, err)
			return
		}
	}
}
