package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"

	kubeyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// splitYAML splits a YAML stream into its non-empty documents, as kubectl does.
func splitYAML(text string) []string {
	reader := kubeyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(text)))
	var documents []string
	for {
		document, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return documents
		}
		if err != nil {
			return append(documents, string(document))
		}
		if len(bytes.TrimSpace(document)) > 0 && !onlyComments(document) {
			documents = append(documents, string(document))
		}
	}
}

func onlyComments(document []byte) bool {
	for _, line := range strings.Split(string(document), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && line != "---" && !strings.HasPrefix(line, "#") {
			return false
		}
	}
	return true
}
