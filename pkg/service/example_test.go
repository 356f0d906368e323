package service_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/flmctl/flmctl/pkg/service"
	flamev1 "github.com/flmctl/flmctl/proto/flame/v1"
)

// wordCount is a complete service: it counts the words of each task's
// input. A program would pass it to service.Run in its main function.
type wordCount struct{ session string }

func (w *wordCount) OnSessionEnter(_ context.Context, sc *service.SessionContext) error {
	w.session = sc.SessionID
	return nil
}

func (w *wordCount) OnTaskInvoke(_ context.Context, tc *service.TaskContext) ([]byte, error) {
	if tc.Input == nil {
		return nil, fmt.Errorf("task %s has no input: send the text to count", tc.TaskID)
	}
	return fmt.Appendf(nil, "%d", len(strings.Fields(string(tc.Input)))), nil
}

func (w *wordCount) OnSessionLeave(context.Context) error {
	w.session = ""
	return nil
}

// Serving a service and calling it as the executor manager does. Outside
// tests, main calls service.Run(&wordCount{}) and Flame provides the socket.
func Example() {
	dir, err := os.MkdirTemp("", "svc")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	socket := filepath.Join(dir, "instance.sock")
	lis, err := net.Listen("unix", socket)
	if err != nil {
		log.Fatal(err)
	}

	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- service.RunContext(ctx, &wordCount{},
			service.WithListener(lis), service.WithLogger(slog.New(slog.DiscardHandler)))
	}()

	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := flamev1.NewInstanceClient(conn)

	res, err := client.OnSessionEnter(ctx, &flamev1.SessionContext{SessionId: "words-1"}, grpc.WaitForReady(true))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("enter:", res.GetReturnCode())
	for i, input := range [][]byte{[]byte("to be or not to be"), nil} {
		tr, err := client.OnTaskInvoke(ctx, &flamev1.TaskContext{TaskId: fmt.Sprint(i + 1), SessionId: "words-1", Input: input})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("task %d: code=%d output=%q message=%q\n", i+1, tr.GetReturnCode(), tr.GetOutput(), tr.GetMessage())
	}
	if _, err := client.OnSessionLeave(ctx, &flamev1.EmptyRequest{}); err != nil {
		log.Fatal(err)
	}
	stop()
	fmt.Println("shutdown:", <-done)
	// Output:
	// enter: 0
	// task 1: code=0 output="6" message=""
	// task 2: code=-1 output="" message="task 2 has no input: send the text to count"
	// shutdown: <nil>
}

// A typed service: inputs and outputs are JSON, the handler sees Go values.
func ExampleTyped() {
	type AddRequest struct{ A, B int }
	type AddResponse struct{ Sum int }

	svc := service.Typed(func(ctx context.Context, req AddRequest) (AddResponse, error) {
		return AddResponse{Sum: req.A + req.B}, nil
	})

	// service.Run(svc) would serve it; here it is called directly.
	out, err := svc.OnTaskInvoke(context.Background(), &service.TaskContext{TaskID: "1", Input: []byte(`{"A":2,"B":3}`)})
	fmt.Println(string(out), err)
	_, err = svc.OnTaskInvoke(context.Background(), &service.TaskContext{TaskID: "2", Input: []byte(`[1,2]`)})
	fmt.Println(err)
	// Output:
	// {"Sum":5} <nil>
	// decode task input as service_test.AddRequest: json: cannot unmarshal array into Go value of type service_test.AddRequest
}

// Session common data decoded through the service's codec, once per session.
func ExampleCommonData() {
	type Settings struct{ Greeting string }
	var settings Settings

	svc := service.Typed(
		func(ctx context.Context, name string) (string, error) {
			return settings.Greeting + ", " + name, nil
		},
		service.WithSessionEnter(func(ctx context.Context, _ *service.SessionContext) error {
			var err error
			settings, err = service.CommonData[Settings](ctx)
			return err
		}),
	)

	ctx := context.Background()
	sc := service.NewSessionContext("greet-1", service.ApplicationContext{Name: "greeter"}, []byte(`{"Greeting":"Hello"}`))
	if err := svc.OnSessionEnter(ctx, sc); err != nil {
		log.Fatal(err)
	}
	out, _ := svc.OnTaskInvoke(ctx, &service.TaskContext{TaskID: "1", Input: []byte(`"Flame"`)})
	fmt.Println(string(out))
	// Output:
	// "Hello, Flame"
}
