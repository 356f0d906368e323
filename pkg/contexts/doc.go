// Package contexts reads and writes upstream Flame's client configuration
// file, flame.yaml, and decides which endpoints a client uses.
//
// The file is kubeconfig-shaped: a list of named contexts and the name of the
// current one.
//
//	current-context: flame
//	contexts:
//	  - name: flame
//	    cluster:
//	      endpoint: https://flame-session-manager:8080
//	      tls:
//	        ca_file: /etc/flame/certs/ca.crt
//	    cache:
//	      endpoint: grpcs://flame-object-cache:9090
//	      storage: /shared/cache
//	    package:
//	      storage: file:///var/lib/flame/packages
//	      excludes: ["*.log"]
//	    runner:
//	      template: flmrun
//
// Files written by upstream Flame are read as they are. Keys this package does
// not know are kept, and so are comments, blank lines and key order:
// [File.Save] edits the parsed YAML document in place and writes it back
// atomically with mode 0600.
//
// [Resolve] turns flags, environment and file into the settings a client
// connects with:
//
//   - The file is the --config flag ([Options.ConfigFile]), else $FLAME_CONFIG,
//     else $HOME/.flame/flame.yaml. The first two must exist; the last may be
//     missing, and a file without contexts counts as no file.
//   - The context is the --context flag ([Options.Context]), else the file's
//     current-context.
//   - Each setting comes from the first of: flag, environment, file, default.
//     FLAME_ENDPOINT, FLAME_CACHE_ENDPOINT and FLAME_CACHE_STORAGE replace the
//     file's values; FLAME_CA_FILE only fills in CA files the context leaves
//     unset; the --endpoint flag ([Options.Endpoint]) beats them all. The
//     defaults are [DefaultEndpoint], [DefaultCacheEndpoint] and
//     [DefaultRunnerTemplate].
//
// Environment overrides live only in [Resolved]; they never reach a [File]
// and so are never saved.
//
// Cluster endpoints are http://, https:// or unix:// URLs, cache endpoints
// grpc://, grpcs:// or grpc+tls:// URLs; [ParseEndpoint] and
// [ParseCacheEndpoint] turn them into dialable addresses.
package contexts
