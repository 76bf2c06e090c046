package events

import (
	"strings"
	"testing"
)

func TestValidID(t *testing.T) {
	good := []string{"a", "2019", "zhangsan", "community-3", "under_score", "550e8400-e29b-41d4-a716-446655440000", strings.Repeat("x", 64)}
	bad := []string{"", strings.Repeat("x", 65), "has space", "slash/", "dot.dot", "张三", "system:watcher", "a\n"}
	for _, id := range good {
		if !ValidID(id) {
			t.Errorf("ValidID(%q) = false, want true", id)
		}
	}
	for _, id := range bad {
		if ValidID(id) {
			t.Errorf("ValidID(%q) = true, want false", id)
		}
	}
}

func TestStreams(t *testing.T) {
	names := map[string]string{
		CycleStream("2019"):    "cycle",
		UnitStream("u1"):       "unit",
		ItemStream("a-b-c"):    "item",
		CommitmentStream("c1"): "commitment",
		UserStream("zhangsan"): "user",
	}
	for stream, cat := range names {
		gotCat, id, ok := ParseStream(stream)
		if !ok || gotCat != cat || StreamPrefix(cat)+id != stream {
			t.Errorf("ParseStream(%q) = %q, %q, %v", stream, gotCat, id, ok)
		}
		if StreamCategory(stream) != cat {
			t.Errorf("StreamCategory(%q) = %q", stream, StreamCategory(stream))
		}
	}
	if got := ItemStream("a-b-c"); got != "item-a-b-c" {
		t.Errorf("ItemStream = %q", got)
	}
	for _, bad := range []string{"item", "item-", "order-1", "item-张三", "$all"} {
		if _, _, ok := ParseStream(bad); ok {
			t.Errorf("ParseStream(%q) ok, want not", bad)
		}
	}
}

func TestSystemActor(t *testing.T) {
	for actor, want := range map[string]bool{"system": true, "system:deadlines": true, "systemic": false, "admin": false, "": false} {
		if IsSystemActor(actor) != want {
			t.Errorf("IsSystemActor(%q) = %v", actor, !want)
		}
	}
}

func TestTokenShape(t *testing.T) {
	tok := TokenPrefix + strings.Repeat("A", 42) + "_"
	if !LooksLikeToken(tok) {
		t.Errorf("%q should look like a token", tok)
	}
	for _, bad := range []string{"", "rfy_", "xyz_" + strings.Repeat("A", 43), tok + "A", TokenPrefix + strings.Repeat("令", 14) + "A"} {
		if LooksLikeToken(bad) {
			t.Errorf("%q should not look like a token", bad)
		}
	}
	if h := TokenHash(tok); !ValidSHA256(h) || h == TokenHash(tok+"x") {
		t.Errorf("TokenHash = %q", h)
	}
}
