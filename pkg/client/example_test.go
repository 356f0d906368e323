package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"strconv"
	"sync"

	"google.golang.org/grpc"

	"github.com/flmctl/flmctl/pkg/client"
	"github.com/flmctl/flmctl/pkg/contexts"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

func ExampleConnect() {
	ctx := context.Background()
	conn, err := client.Connect(ctx, "http://127.0.0.1:8080")
	if errors.Is(err, client.ErrUnavailable) {
		log.Fatal(err) // says how to start a cluster
	}
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	apps, err := conn.ListApplications(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, app := range apps {
		fmt.Println(app.Name, app.State)
	}
}

func ExampleConnectResolved() {
	ctx := context.Background()
	r, err := contexts.Resolve(contexts.Options{Context: "prod"}) // a context of ~/.flame/flame.yaml
	if err != nil {
		log.Fatal(err)
	}
	conn, err := client.ConnectResolved(ctx, r)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
}

func ExampleConnection_RegisterApplication() {
	ctx := context.Background()
	conn, err := client.Connect(ctx, "http://127.0.0.1:8080")
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	err = conn.RegisterApplication(ctx, "echo", client.ApplicationAttributes{
		Command:      "/usr/local/bin/echo-service",
		Environments: map[string]string{"LOG_LEVEL": "info"},
		MaxInstances: new(uint32(4)),
	})
	if errors.Is(err, client.ErrAlreadyExists) {
		fmt.Println("already registered")
	} else if err != nil {
		log.Fatal(err)
	}
}

func ExampleCreateSession() {
	// The package-level functions use the current flame.yaml context.
	ctx := context.Background()
	resreq, err := client.ParseResourceRequirement("cpu=1,mem=1g")
	if err != nil {
		log.Fatal(err)
	}
	ssn, err := client.CreateSession(ctx, client.SessionAttributes{Application: "flmping", ResReq: &resreq})
	if err != nil {
		log.Fatal(err)
	}
	defer ssn.Close(ctx)
	fmt.Println("created", ssn.ID())
}

// upperFrontend stands in for a cluster whose application upper-cases its input.
func upperFrontend() *stubFrontend {
	var mu sync.Mutex
	inputs := map[string][]byte{}
	return &stubFrontend{
		CreateSessionF: func(_ context.Context, r *flamev1.CreateSessionRequest) (*flamev1.Session, error) {
			return echoSession(r.SessionId, r.Session), nil
		},
		CloseSessionF: func(_ context.Context, r *flamev1.CloseSessionRequest) (*flamev1.Session, error) {
			return sessionProto(r.SessionId, "upper", flamev1.SessionState_Closed), nil
		},
		CreateTaskF: func(_ context.Context, r *flamev1.CreateTaskRequest) (*flamev1.Task, error) {
			mu.Lock()
			defer mu.Unlock()
			id := strconv.Itoa(len(inputs) + 1)
			inputs[id] = r.GetTask().GetInput()
			return taskProto(r.GetTask().GetSessionId(), id, flamev1.TaskState_Pending, nil), nil
		},
		WatchTaskF: func(r *flamev1.WatchTaskRequest, st grpc.ServerStreamingServer[flamev1.Task]) error {
			mu.Lock()
			out := bytes.ToUpper(inputs[r.TaskId])
			mu.Unlock()
			return st.Send(taskProto(r.SessionId, r.TaskId, flamev1.TaskState_Succeed, out))
		},
	}
}

func ExampleSession_Invoke() {
	ctx := context.Background()
	dial, stop := serveStub(upperFrontend()) // an in-memory cluster; omit dial for a real one
	defer stop()
	conn, err := client.Connect(ctx, "http://127.0.0.1:8080", dial)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	ssn, err := conn.CreateSession(ctx, client.SessionAttributes{Application: "upper"})
	if err != nil {
		log.Fatal(err)
	}
	defer ssn.Close(ctx)

	out, err := ssn.Invoke(ctx, []byte("hello"))
	var failed *client.TaskFailedError
	if errors.As(err, &failed) {
		log.Fatalf("task %s: %v", failed.TaskID, err)
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(out))
	// Output: HELLO
}

func ExampleSession_Run() {
	ctx := context.Background()
	dial, stop := serveStub(upperFrontend()) // an in-memory cluster; omit dial for a real one
	defer stop()
	conn, err := client.Connect(ctx, "http://127.0.0.1:8080", dial)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	ssn, err := conn.CreateSession(ctx, client.SessionAttributes{Application: "upper"})
	if err != nil {
		log.Fatal(err)
	}
	defer ssn.Close(ctx)

	// Start every task first, then collect the results in order.
	var futures []*client.Future
	for _, in := range []string{"a", "b", "c"} {
		futures = append(futures, ssn.Run(ctx, []byte(in)))
	}
	for _, f := range futures {
		out, err := f.Wait(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("task %s: %s\n", f.TaskID(), out)
	}
	// Output:
	// task 1: A
	// task 2: B
	// task 3: C
}

func ExampleParseResourceRequirement() {
	r, err := client.ParseResourceRequirement("cpu=2, memory=4096MiB")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.CPU, r.Memory, r)

	_, err = client.ParseResourceRequirement("cpu=2,")
	fmt.Println(err)
	// Output:
	// 2 4294967296 cpu=2,mem=4g,gpu=0
	// invalid resource requirement "cpu=2,": entry 2 is empty; use e.g. "cpu=1,mem=1g,gpu=0"
}
