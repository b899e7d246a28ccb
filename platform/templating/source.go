package templating

import (
	"errors"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// source is a template file split into its front matter and its body.
type source struct {
	// subject is the front matter's subject, a pongo2 template; hasSubject tells an empty
	// subject from a missing one.
	subject    string
	hasSubject bool
	// subjectOffset is the number of file lines before the subject's text.
	subjectOffset int
	// body is the pongo2 Markdown after the front matter.
	body string
	// bodyOffset is the number of file lines before the body.
	bodyOffset int
}

// parseSource splits a template file into front matter and body. The front matter is optional;
// when present it is a YAML mapping between a first line "---" and the next line "---".
// It returns a *TemplateError for a file that is not UTF-8, front matter that is not closed,
// or front matter that is not valid YAML.
func parseSource(name string, raw []byte) (source, error) {
	text := strings.TrimPrefix(string(raw), "\uFEFF")
	if !utf8.ValidString(text) {
		return source{}, &TemplateError{Name: name, Err: errors.New("file is not valid UTF-8")}
	}
	// Dropping CR keeps the line count: every CR dropped is followed by the LF that ends its line.
	text = strings.ReplaceAll(text, "\r\n", "\n")

	first, rest, _ := strings.Cut(text, "\n")
	if !isDelimiter(first) {
		return source{body: text}, nil
	}

	// Look for the closing delimiter; line counts the file's lines up to the one at hand.
	line, pos := 1, 0
	for pos <= len(rest) {
		end := strings.IndexByte(rest[pos:], '\n')
		next := len(rest) + 1
		if end >= 0 {
			next = pos + end + 1
		}
		line++
		if isDelimiter(rest[pos : next-1]) {
			src := source{bodyOffset: line}
			if next <= len(rest) {
				src.body = rest[next:]
			}
			if err := src.parseFrontMatter(name, rest[:pos]); err != nil {
				return source{}, err
			}
			return src, nil
		}
		pos = next
	}
	return source{}, &TemplateError{Name: name, Line: 1, Err: errors.New("front matter is not closed by a line ---")}
}

// parseFrontMatter reads the fields Notifier knows from the YAML front matter; other keys are
// left for the authors (notes, descriptions).
func (s *source) parseFrontMatter(name, text string) error {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return frontMatterError(name, err)
	}
	if len(doc.Content) == 0 {
		return nil // empty, or comments only
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return &TemplateError{Name: name, Line: root.Line + 1, Err: errors.New("front matter: want a mapping such as subject: \"...\"")}
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, value := root.Content[i], root.Content[i+1]
		if key.Value != "subject" {
			continue
		}
		if value.Kind != yaml.ScalarNode || value.Tag == "!!null" {
			return &TemplateError{Name: name, Line: value.Line + 1, Err: errors.New("front matter: subject must be a string")}
		}
		s.subject, s.hasSubject = value.Value, true
		// The text of a block scalar (subject: |) starts on the line after its indicator.
		s.subjectOffset = value.Line
		if value.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
			s.subjectOffset++
		}
	}
	return nil
}

// isDelimiter reports whether line is a front matter delimiter.
func isDelimiter(line string) bool {
	return strings.TrimRight(line, " \t") == "---"
}
