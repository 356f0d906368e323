package contexts_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/flmctl/flmctl/pkg/contexts"
)

func ExampleResolve() {
	dir, err := os.MkdirTemp("", "flame")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	config := filepath.Join(dir, "flame.yaml")
	err = os.WriteFile(config, []byte(`current-context: lab
contexts:
  - name: lab
    cluster:
      endpoint: http://lab.example.com:8080
    runner:
      template: labrun
`), 0o600)
	if err != nil {
		log.Fatal(err)
	}

	// The environment would normally be the process's; here it is a map.
	env := map[string]string{
		"FLAME_CONFIG":         config,
		"FLAME_CACHE_ENDPOINT": "grpc://cache.example.com",
	}
	r, err := contexts.Resolve(contexts.Options{
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("context:", r.Name)
	fmt.Println("cluster:", r.Endpoint)
	fmt.Println("cache:  ", r.CacheEndpoint)
	fmt.Println("runner: ", r.RunnerTemplate)

	// Endpoints are URLs; gRPC wants host:port.
	ep, err := contexts.ParseCacheEndpoint(r.CacheEndpoint)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("dial:   ", ep.Address(), "tls:", ep.TLS)
	// Output:
	// context: lab
	// cluster: http://lab.example.com:8080
	// cache:   grpc://cache.example.com
	// runner:  labrun
	// dial:    cache.example.com:9090 tls: false
}

func ExampleFile_Save() {
	dir, err := os.MkdirTemp("", "flame")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	config := filepath.Join(dir, "flame.yaml")
	err = os.WriteFile(config, []byte(`# My clusters.
current-context: prod

contexts:
  - name: prod # the big one
    cluster:
      endpoint: https://flame.example.com:8080
    owner: ops # not a Flame key; kept
`), 0o600)
	if err != nil {
		log.Fatal(err)
	}

	f, err := contexts.Load(config)
	if err != nil {
		log.Fatal(err)
	}
	f.SetContext(contexts.Context{
		Name:    "local",
		Cluster: contexts.ClusterConfig{Endpoint: contexts.DefaultEndpoint},
	})
	if err := f.UseContext("local"); err != nil {
		log.Fatal(err)
	}
	if err := f.Save(); err != nil {
		log.Fatal(err)
	}

	data, err := os.ReadFile(config)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(data))
	// Output:
	// # My clusters.
	// current-context: local
	//
	// contexts:
	//   - name: prod # the big one
	//     cluster:
	//       endpoint: https://flame.example.com:8080
	//     owner: ops # not a Flame key; kept
	//   - name: local
	//     cluster:
	//       endpoint: http://127.0.0.1:8080
}
