// Command go-tlog-check checks a running M2MHub from outside with Go's own transparency-log
// code (golang.org/x/mod/sumdb/note and sumdb/tlog, Debian's golang-golang-x-mod-dev), which
// we did not write:
//
//   - the checkpoint at /tlog/checkpoint opens under the hub's key (/v1/key) with note.Open;
//   - the tree hash recomputed from the hub's C2SP tiles (tlog.TileHashReader authenticates
//     every tile it reads) equals the checkpoint's root;
//   - for every entry (or every step-th): its bytes (/v1/entries/{seq}) hash to the leaf in the
//     tiles, the proof Go builds from the tiles checks, and so does the hub's own proof
//     (/v1/proof/inclusion);
//   - for each older checkpoint given with -old FILE: it opens under the same key, and both
//     Go's proof from the tiles and the hub's /v1/proof/consistency check against both roots.
//
// Build with GO111MODULE=off GOPATH=/usr/share/gocode go build (no module proxy needed).
// Exits 0 and prints "ok …" when everything holds; otherwise prints what failed, exits 1.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type oldFlags []string

func (o *oldFlags) String() string     { return strings.Join(*o, ",") }
func (o *oldFlags) Set(v string) error { *o = append(*o, v); return nil }

var hub string

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func get(path string) []byte {
	r, err := http.Get(hub + path)
	if err != nil {
		fail("GET %s: %v", path, err)
	}
	defer r.Body.Close()
	body, err := io.ReadAll(r.Body)
	if err != nil || r.StatusCode != 200 {
		fail("GET %s: status %d: %s", path, r.StatusCode, body)
	}
	return body
}

// c2spTiles reads tiles over HTTP; Go's paths (tile/8/L/N, tile/8/data/N) are C2SP's
// (tile/L/N, tile/entries/N) with the height 8 implied.
type c2spTiles struct{}

func (c2spTiles) Height() int { return 8 }
func (c2spTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		p := t.Path()
		p = strings.Replace(p, "tile/8/data/", "tile/entries/", 1)
		p = strings.Replace(p, "tile/8/", "tile/", 1)
		out[i] = get("/tlog/" + p)
	}
	return out, nil
}
func (c2spTiles) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

type checkpoint struct {
	origin string
	size   int64
	hash   tlog.Hash
}

// open verifies a signed note with the hub's key and parses its C2SP checkpoint body.
func open(msg []byte, verifiers note.Verifiers) checkpoint {
	n, err := note.Open(msg, verifiers)
	if err != nil {
		fail("note.Open: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 {
		fail("checkpoint body has %d lines", len(lines))
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("checkpoint size %q: %v", lines[1], err)
	}
	raw, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(raw) != tlog.HashSize {
		fail("checkpoint root %q", lines[2])
	}
	var h tlog.Hash
	copy(h[:], raw)
	return checkpoint{origin: lines[0], size: size, hash: h}
}

func hexProof(paths []string) []tlog.Hash {
	out := make([]tlog.Hash, len(paths))
	for i, p := range paths {
		b, err := hex.DecodeString(p)
		if err != nil || len(b) != tlog.HashSize {
			fail("proof hash %q", p)
		}
		copy(out[i][:], b)
	}
	return out
}

func main() {
	var olds oldFlags
	flag.StringVar(&hub, "url", "", "the hub's base URL")
	step := flag.Int64("step", 1, "check every step-th entry (and the last)")
	flag.Var(&olds, "old", "an older checkpoint (signed note file) to prove consistency with; repeatable")
	flag.Parse()
	if hub == "" {
		fail("-url is required")
	}

	verifier, err := note.NewVerifier(strings.TrimSpace(string(get("/v1/key"))))
	if err != nil {
		fail("note.NewVerifier: %v", err)
	}
	verifiers := note.VerifierList(verifier)
	cp := open(get("/tlog/checkpoint"), verifiers)
	if cp.origin != verifier.Name() {
		fail("origin %q is not the key's name %q", cp.origin, verifier.Name())
	}

	thr := tlog.TileHashReader(tlog.Tree{N: cp.size, Hash: cp.hash}, c2spTiles{})
	root, err := tlog.TreeHash(cp.size, thr)
	if err != nil || root != cp.hash {
		fail("tree hash from tiles: %v (%v, want %v)", err, root, cp.hash)
	}

	checked := 0
	for seq := int64(0); seq < cp.size; seq += *step {
		if seq+*step >= cp.size {
			seq = cp.size - 1
		}
		var entry struct {
			EntryBytes string `json:"entry_bytes"`
		}
		if err := json.Unmarshal(get(fmt.Sprintf("/v1/entries/%d", seq)), &entry); err != nil {
			fail("entry %d: %v", seq, err)
		}
		raw, err := base64.StdEncoding.DecodeString(entry.EntryBytes)
		if err != nil {
			fail("entry %d bytes: %v", seq, err)
		}
		leaf := tlog.RecordHash(raw)
		hashes, err := thr.ReadHashes([]int64{tlog.StoredHashIndex(0, seq)})
		if err != nil || hashes[0] != leaf {
			fail("entry %d: leaf in the tiles %v, bytes hash to %v (%v)", seq, hashes, leaf, err)
		}
		p, err := tlog.ProveRecord(cp.size, seq, thr)
		if err != nil {
			fail("ProveRecord(%d, %d) from tiles: %v", cp.size, seq, err)
		}
		if err := tlog.CheckRecord(p, cp.size, cp.hash, seq, leaf); err != nil {
			fail("CheckRecord of the tiles' proof for %d: %v", seq, err)
		}
		var inc struct {
			Path []string `json:"path"`
		}
		if err := json.Unmarshal(get(fmt.Sprintf("/v1/proof/inclusion?seq=%d&tree_size=%d", seq, cp.size)), &inc); err != nil {
			fail("inclusion %d: %v", seq, err)
		}
		if err := tlog.CheckRecord(hexProof(inc.Path), cp.size, cp.hash, seq, leaf); err != nil {
			fail("CheckRecord of the hub's proof for %d in %d: %v", seq, cp.size, err)
		}
		checked++
	}

	for _, f := range olds {
		msg, err := os.ReadFile(f)
		if err != nil {
			fail("%s: %v", f, err)
		}
		old := open(msg, verifiers)
		p, err := tlog.ProveTree(cp.size, old.size, thr)
		if err != nil {
			fail("ProveTree(%d, %d) from tiles: %v", cp.size, old.size, err)
		}
		if err := tlog.CheckTree(p, cp.size, cp.hash, old.size, old.hash); err != nil {
			fail("CheckTree of the tiles' proof %d → %d: %v", old.size, cp.size, err)
		}
		var cons struct {
			Path []string `json:"path"`
		}
		if err := json.Unmarshal(get(fmt.Sprintf("/v1/proof/consistency?from=%d&to=%d", old.size, cp.size)), &cons); err != nil {
			fail("consistency: %v", err)
		}
		if err := tlog.CheckTree(hexProof(cons.Path), cp.size, cp.hash, old.size, old.hash); err != nil {
			fail("CheckTree of the hub's proof %d → %d: %v", old.size, cp.size, err)
		}
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "ok origin=%s size=%d entries_checked=%d older_checkpoints=%d\n", cp.origin, cp.size, checked, len(olds))
	os.Stdout.Write(buf.Bytes())
}
