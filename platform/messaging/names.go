package messaging

import (
	"fmt"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
)

// Named is implemented by every command and event: Name returns its
// versioned wire name, such as "posting.CreatePosting.v1".
type Named interface {
	Name() string
}

// Routed is implemented by commands that travel on one of several topics of
// the same command type (the delivery lanes): RouteKey picks the topic.
type Routed interface {
	RouteKey() string
}

// RouteKeyed is implemented by command handlers that consume only one route
// of a Routed command.
type RouteKeyed interface {
	RouteKey() string
}

// MessageName returns the versioned wire name of v, which must implement
// Named (directly or through a pointer).
func MessageName(v any) string {
	if n, ok := v.(Named); ok {
		return n.Name()
	}
	panic(fmt.Sprintf("messaging: %T does not implement Name() string; every command and event needs a versioned name", v))
}

// Marshaler is the JSON marshaler used by every bus and processor. Names
// are explicit and versioned, never derived from Go type names.
func Marshaler() cqrs.CommandEventMarshaler {
	return cqrs.JSONMarshaler{GenerateName: MessageName}
}

// CommandTopic returns the topic of a command: "commands.<name>", with
// ".<route>" appended for routed commands.
func CommandTopic(name, route string) string {
	if route == "" {
		return "commands." + name
	}
	return "commands." + name + "." + route
}

// EventTopic returns the topic of an event: "events.<name>".
func EventTopic(name string) string { return "events." + name }
