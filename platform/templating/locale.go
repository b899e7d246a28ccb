package templating

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"golang.org/x/text/language"
)

// maxLocaleLength bounds the locale strings ParseLocale reads; no language
// tag worth honouring is longer (the longest language, script and region
// subtags together make 3+1+4+1+3 characters, with room for what is
// dropped).
const maxLocaleLength = 64

// ErrLocaleVariant is returned, along with ErrTemplateNotFound, for the name
// of a template's locale file ("email/welcome.en.md") where the template's
// own name ("email/welcome.md") is expected: which file is rendered is
// decided by the recipient's locale.
var ErrLocaleVariant = errors.New("names a locale file of a template")

// ParseLocale returns the canonical form of a BCP 47 language tag, reduced
// to its language, script and region ("en-GB", "zh-Hant-TW", "ru"): what
// template files are named after. It reads tags case-insensitively, with
// "_" or "-" between subtags ("en_gb", "EN-GB"), drops a POSIX locale's
// codeset and modifier ("ru_RU.UTF-8" gives "ru-RU"), variants and
// extensions ("en-US-u-ca-gregory" gives "en-US"), and replaces deprecated
// codes ("iw" gives "he"). It returns an error for an empty string, a tag
// that is not well-formed or that names no language ("und", "x-foo").
func ParseLocale(s string) (string, error) {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, ".@"); i >= 0 {
		s = s[:i]
	}
	switch {
	case s == "":
		return "", errors.New("empty locale")
	case len(s) > maxLocaleLength:
		return "", fmt.Errorf("locale longer than %d characters", maxLocaleLength)
	}
	tag, err := language.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%q is not a BCP 47 language tag such as ru or en-GB", s)
	}
	base, script, region := tag.Raw()
	if base == (language.Base{}) {
		return "", fmt.Errorf("%q names no language", s)
	}
	tag, err = language.Compose(base, script, region)
	if err != nil {
		return "", fmt.Errorf("%q is not a BCP 47 language tag such as ru or en-GB: %w", s, err)
	}
	return tag.String(), nil
}

// languageOf returns the language subtag of a canonical locale ("en" of
// "en-GB").
func languageOf(locale string) string {
	lang, _, _ := strings.Cut(locale, "-")
	return lang
}

// splitVariant splits the name of a locale file ("email/welcome.en-GB.md",
// ext ".md") into the name of its template ("email/welcome.md") and its
// locale as written ("en-GB"). ok is false when the part of the file name
// between its last two dots is not a language tag (ParseLocale), or when
// nothing precedes it.
func splitVariant(name, ext string) (base, suffix, locale string, ok bool) {
	stem, found := strings.CutSuffix(name, ext)
	if !found {
		return "", "", "", false
	}
	dot := strings.LastIndexByte(stem, '.')
	if dot < 0 || dot <= strings.LastIndexByte(stem, '/')+1 {
		return "", "", "", false
	}
	suffix = stem[dot+1:]
	// ParseLocale drops what follows a dot or an @, and trims spaces; a
	// file name holding those is not a locale file.
	if strings.ContainsAny(suffix, "@ \t") {
		return "", "", "", false
	}
	locale, err := ParseLocale(suffix)
	if err != nil {
		return "", "", "", false
	}
	return stem[:dot] + ext, suffix, locale, true
}

// variantName returns the name of base's file for locale
// ("email/welcome.md", "en" gives "email/welcome.en.md").
func variantName(base, ext, locale string) string {
	return strings.TrimSuffix(base, ext) + "." + locale + ext
}

// family is a template, or the layout, and its files: the bare one and one
// per locale.
type family struct {
	// name is the bare file's name, such as "email/welcome.md".
	name string
	// bare tells whether the bare file exists.
	bare bool
	// files maps each canonical locale to its file's name.
	files map[string]string
	// misnamed lists the files whose suffix is a locale written in another
	// form than the canonical one ("welcome.en_GB.md"): they are not used,
	// and Validate reports them.
	misnamed []string
}

// readFamily lists the files of the template (or layout) name, whose
// extension is ext, in one read of its directory. A directory that does
// not exist gives a family without files.
func readFamily(fsys fs.FS, name, ext string) (*family, error) {
	f := &family{name: name, files: map[string]string{}}
	dir := path.Dir(name)
	entries, err := fs.ReadDir(fsys, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read template directory %q: %w", dir, err)
	}
	prefix := strings.TrimSuffix(path.Base(name), ext) + "."
	for _, e := range entries {
		file := e.Name()
		if e.IsDir() || !strings.HasPrefix(file, prefix) || !strings.HasSuffix(file, ext) {
			continue
		}
		full := path.Join(dir, file)
		if full == name {
			f.bare = true
			continue
		}
		base, suffix, locale, ok := splitVariant(full, ext)
		if !ok || base != name {
			continue
		}
		if suffix != locale {
			f.misnamed = append(f.misnamed, full)
			continue
		}
		f.files[locale] = full
	}
	return f, nil
}

// resolves tells whether the family has a file for every recipient: its
// bare file, or a file of the default locale or of its language.
func (f *family) resolves(defaultLocale string) bool {
	_, _, ok := f.pick("", defaultLocale)
	return ok
}

// pick returns the file to render for locale (canonical, or empty when
// unknown) and the locale that file is in: the file of locale, else of its
// language, else of the default locale, else of the default's language,
// else the bare file, taken to be in the default locale. ok is false when
// none of them exists.
func (f *family) pick(locale, defaultLocale string) (file, used string, ok bool) {
	for _, l := range [...]string{locale, languageOf(locale), defaultLocale, languageOf(defaultLocale)} {
		if l == "" {
			continue
		}
		if file, ok := f.files[l]; ok {
			return file, l, true
		}
	}
	if f.bare {
		return f.name, defaultLocale, true
	}
	return "", "", false
}

// locales returns the locales the family has a file of, sorted.
func (f *family) locales() []string {
	out := make([]string, 0, len(f.files))
	for l := range f.files {
		out = append(out, l)
	}
	slices.Sort(out)
	return out
}

// paths returns the family's files, the bare one first, then by locale.
func (f *family) paths() []string {
	var out []string
	if f.bare {
		out = append(out, f.name)
	}
	for _, l := range f.locales() {
		out = append(out, f.files[l])
	}
	return out
}
