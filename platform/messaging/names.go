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

// Routed is implemented by commands and events that travel on one of
// several topics of the same type (the lanes, package lane): RouteKey
// picks the topic. A route named after a lane is that lane; any other
// (the empty route included) is the bulk lane.
type Routed interface {
	RouteKey() string
}

// RouteKeyed is implemented by handlers that consume only one route of a
// Routed command or event.
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

// EventTopic returns the topic of an event: "events.<name>", with
// ".<route>" appended for routed events.
func EventTopic(name, route string) string {
	if route == "" {
		return "events." + name
	}
	return "events." + name + "." + route
}

// routeOf returns the route of v: its RouteKey when it is Routed, else "".
func routeOf(v any) string {
	if r, ok := v.(Routed); ok {
		return r.RouteKey()
	}
	return ""
}

// handlerRoute returns the route h consumes: its RouteKey when it is
// RouteKeyed, else "".
func handlerRoute(h any) string {
	if r, ok := h.(RouteKeyed); ok {
		return r.RouteKey()
	}
	return ""
}
