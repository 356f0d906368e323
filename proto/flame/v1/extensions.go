package flamev1

// WaitMetadataKey is flmctl's one extension to the Frontend protocol, carried
// in request metadata so that the wire stays upstream's. A CreateTask call
// whose metadata has WaitMetadataKey set to WaitTerminal is answered only when
// the task is terminal (its output and events included), which saves the
// WatchTask stream of an invoke: one round trip instead of a call, a stream
// and two messages. The task is created, durably, exactly as without it.
//
// On a WatchTask call the same metadata asks for the terminal state alone,
// without the states before it.
//
// A server that does not know the key (upstream Flame) ignores it and answers
// with the Pending task, and a server that stops before the task ends answers
// with the task as it stands; a client therefore treats a non-terminal answer
// as "watch the task as usual".
const (
	WaitMetadataKey = "flmctl-wait"
	WaitTerminal    = "terminal"
)
