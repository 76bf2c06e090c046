package main

import (
	"errors"
	"flag"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

// composeFile is the part of docker-compose.yml the tests look at.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Volumes     []string `yaml:"volumes"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	Deploy struct {
		Replicas int `yaml:"replicas"`
	} `yaml:"deploy"`
}

func readCompose(tb testing.TB) composeFile {
	tb.Helper()
	b, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		tb.Fatal(err)
	}
	var f composeFile
	// A key beside a merge (<<) overrides the merged one, as in Compose.
	if err := yaml.UnmarshalWithOptions(b, &f, yaml.AllowDuplicateMapKey()); err != nil {
		tb.Fatalf("docker-compose.yml: %v", err)
	}
	return f
}

// Docker's own check of the compose file, where a Docker client with the
// compose plugin is installed.
func TestDockerComposeConfigAcceptsTheFile(t *testing.T) {
	if err := exec.Command("docker", "compose", "version").Run(); err != nil {
		t.Skipf("docker compose is not available here (%v); TestComposeFileShape checks the file without it", err)
	}
	out, err := exec.Command("docker", "compose", "-f", "../../docker-compose.yml", "config", "--quiet").CombinedOutput()
	if err != nil {
		t.Fatalf("docker compose config: %v\n%s", err, out)
	}
}

// The compose file runs the deployment the README describes, with what
// every part needs: the roles, each scaled as promised, health checks,
// start-up in order, a volume for everything that keeps state, and only
// settings that rectify knows.
func TestComposeFileShape(t *testing.T) {
	f := readCompose(t)
	var help strings.Builder
	if _, err := serveFlags("serve", &help, []string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("serve -h: %v", err)
	}

	roles := map[string]int{} // role -> containers running it
	replicaIDs := map[string]string{}
	for name, s := range f.Services {
		rectify := s.Image == "rectify:latest"
		if s.Healthcheck == nil && !rectify { // rectify's image has a HEALTHCHECK of its own
			t.Errorf("service %s has no health check", name)
		}
		for dep, d := range s.DependsOn {
			if d.Condition != "service_healthy" {
				t.Errorf("service %s depends on %s with condition %q, want service_healthy", name, dep, d.Condition)
			}
			if _, ok := f.Services[dep]; !ok {
				t.Errorf("service %s depends on %s, which is not defined", name, dep)
			}
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if _, ok := f.Volumes[src]; !ok {
				t.Errorf("service %s mounts %s, which is not a named volume", name, src)
			}
		}
		if !rectify {
			continue
		}
		if s.Build == nil {
			t.Errorf("service %s: no build section", name)
		}
		for env := range s.Environment {
			if !strings.Contains(help.String(), "("+env+")") {
				t.Errorf("service %s sets %s, which no flag of rectify serve reads", name, env)
			}
		}
		if s.Environment["RECTIFY_ESDB_URL"] == "" || !strings.Contains(s.Environment["RECTIFY_NATS_URL"], ",") ||
			s.Environment["RECTIFY_STREAM_REPLICAS"] != "3" {
			t.Errorf("service %s: want EventStoreDB, the NATS cluster and streams of three replicas, got %v", name, s.Environment)
		}
		if len(s.DependsOn) < 4 {
			t.Errorf("service %s starts before EventStoreDB and the NATS cluster are healthy: depends on %v", name, s.DependsOn)
		}
		n := max(s.Deploy.Replicas, 1)
		for _, r := range strings.Split(s.Environment["RECTIFY_ROLES"], ",") {
			roles[r] += n
		}
		if strings.Contains(s.Environment["RECTIFY_ROLES"], roleProjections) {
			id := s.Environment["RECTIFY_REPLICA"]
			if other, ok := replicaIDs[id]; ok || id == "" || n != 1 {
				t.Errorf("projection services %s and %s share replica id %q (or one runs several containers): each needs its own", name, other, id)
			}
			replicaIDs[id] = name
			if len(s.Volumes) == 0 {
				t.Errorf("projection service %s keeps its views on no volume", name)
			}
		}
	}
	want := map[string]int{roleCommands: 2, roleRelay: 2, roleProjections: 2, roleGateway: 2, roleWatcher: 1}
	for r, n := range want {
		if roles[r] != n {
			t.Errorf("%d containers run the %s role; want %d", roles[r], r, n)
		}
	}
	for r := range roles {
		if !slices.Contains(allRoles, r) {
			t.Errorf("unknown role %q in RECTIFY_ROLES", r)
		}
	}

	// Gateways start once the command side and the views are ready.
	for name, s := range f.Services {
		if s.Environment["RECTIFY_ROLES"] != roleGateway {
			continue
		}
		for dep, d := range f.Services {
			r := d.Environment["RECTIFY_ROLES"]
			if r == roleCommands || r == roleProjections {
				if _, ok := s.DependsOn[dep]; !ok {
					t.Errorf("gateway %s does not wait for %s", name, dep)
				}
			}
		}
	}

	nats := 0
	for name, s := range f.Services {
		if !strings.HasPrefix(s.Image, "nats:2") {
			continue
		}
		nats++
		cmd := strings.Join(s.Command, " ")
		for _, w := range []string{"--jetstream", "--store_dir", "--cluster_name", "--routes"} {
			if !strings.Contains(cmd, w) {
				t.Errorf("nats service %s runs without %s: %s", name, w, cmd)
			}
		}
		if len(s.Volumes) == 0 {
			t.Errorf("nats service %s keeps JetStream on no volume", name)
		}
	}
	if nats != 3 {
		t.Errorf("%d NATS nodes; want a cluster of three", nats)
	}
	es := f.Services["eventstore"]
	if !strings.HasPrefix(es.Image, "eventstore/eventstore:") || len(es.Volumes) == 0 {
		t.Errorf("eventstore: image %q, volumes %v; want the official image and its data on a volume", es.Image, es.Volumes)
	}
}
