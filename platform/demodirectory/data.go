// Package demodirectory is a small in-process stand-in for the services Notifier
// fetches: the user directory of DESIGN §6 (logical host "auth"), the catalogue
// ("fastapi") and the activity API ("activity_api"). It serves data loaded from
// YAML, by default the embedded configs/demo-directory.yaml, and backs `make run`
// and tests through upstream.WithHandler.
package demodirectory

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/google/uuid"
	"gopkg.in/yaml.v3"

	"github.com/notifier/notifier/configs"
)

// DefaultFile is the name of the demo data file in configs.FS.
const DefaultFile = "demo-directory.yaml"

// User is a directory user. The JSON fields are the directory contract of DESIGN
// §6; EmailNotifications and SubscribedSeries only drive the query filters.
type User struct {
	ID        string `json:"id" yaml:"id"`
	Email     string `json:"email" yaml:"email"`
	Phone     string `json:"phone" yaml:"phone"`
	Username  string `json:"username" yaml:"username"`
	FirstName string `json:"first_name" yaml:"first_name"`
	Locale    string `json:"locale" yaml:"locale"`
	Timezone  string `json:"timezone" yaml:"timezone"`
	IsActive  bool   `json:"is_active" yaml:"is_active"`
	// WebhookURL is where the webhook channel POSTs the user's messages.
	WebhookURL         string   `json:"webhook_url,omitempty" yaml:"webhook_url"`
	EmailNotifications bool     `json:"-" yaml:"email_notifications"`
	SubscribedSeries   []string `json:"-" yaml:"subscribed_series"`
}

// Review is a review as the activity API serves it. Movie is the catalogue URL of
// the reviewed movie.
type Review struct {
	ID       string `json:"id" yaml:"id"`
	AuthorID string `json:"author_id" yaml:"author_id"`
	Movie    string `json:"movie" yaml:"movie"`
	Text     string `json:"text" yaml:"text"`
}

// Data is everything the demo services serve. Movies and series are free-form
// objects, each with a string "id"; a movie with "new": true is listed by
// ?new=True.
type Data struct {
	Users   []User           `yaml:"users"`
	Movies  []map[string]any `yaml:"movies"`
	Series  []map[string]any `yaml:"series"`
	Reviews []Review         `yaml:"reviews"`
}

// Load decodes and validates demo data from YAML. It returns an error for an
// unknown field, a user id that is not a lowercase canonical UUID, a missing or
// repeated id, a subscription to an unknown series, or a review by an unknown
// author.
func Load(r io.Reader) (*Data, error) {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	var d Data
	if err := dec.Decode(&d); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("demodirectory: decode: %w", err)
	}
	if err := d.validate(); err != nil {
		return nil, fmt.Errorf("demodirectory: %w", err)
	}
	return &d, nil
}

// LoadDefault loads the embedded configs/demo-directory.yaml.
func LoadDefault() (*Data, error) {
	f, err := configs.FS.Open(DefaultFile)
	if err != nil {
		return nil, fmt.Errorf("demodirectory: open %s: %w", DefaultFile, err)
	}
	defer f.Close()
	return Load(f)
}

// validate checks ids and references.
func (d *Data) validate() error {
	series, err := objectIDs("series", d.Series)
	if err != nil {
		return err
	}
	if _, err := objectIDs("movie", d.Movies); err != nil {
		return err
	}
	users := make(map[string]bool, len(d.Users))
	for i, u := range d.Users {
		if id, err := uuid.Parse(u.ID); err != nil || id.String() != u.ID {
			return fmt.Errorf("user %d: id %q is not a lowercase canonical uuid", i+1, u.ID)
		}
		if users[u.ID] {
			return fmt.Errorf("user %s: repeated id", u.ID)
		}
		users[u.ID] = true
		for _, s := range u.SubscribedSeries {
			if !series[s] {
				return fmt.Errorf("user %s: subscribed to unknown series %q", u.ID, s)
			}
		}
	}
	reviews := make(map[string]bool, len(d.Reviews))
	for i, r := range d.Reviews {
		switch {
		case strings.TrimSpace(r.ID) == "":
			return fmt.Errorf("review %d: missing id", i+1)
		case reviews[r.ID]:
			return fmt.Errorf("review %s: repeated id", r.ID)
		case !users[r.AuthorID]:
			return fmt.Errorf("review %s: unknown author %q", r.ID, r.AuthorID)
		}
		reviews[r.ID] = true
	}
	return nil
}

// objectIDs returns the set of the objects' "id" values, which must be non-empty
// unique strings.
func objectIDs(kind string, objects []map[string]any) (map[string]bool, error) {
	ids := make(map[string]bool, len(objects))
	for i, o := range objects {
		id, _ := o["id"].(string)
		if strings.TrimSpace(id) == "" {
			return nil, fmt.Errorf("%s %d: missing string id", kind, i+1)
		}
		if ids[id] {
			return nil, fmt.Errorf("%s %s: repeated id", kind, id)
		}
		ids[id] = true
	}
	return ids, nil
}

// generatedNamespace is the UUID v5 namespace of GenerateUsers' ids.
var generatedNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://notifier.example/demo-directory/users"))

var generatedNames = []string{"Анна", "Борис", "Вера", "Глеб", "Дарья", "Егор", "Жанна", "Зоя", "Игорь", "Ксения"}

// GenerateUsers returns n deterministic synthetic users, numbered from 1: user i
// has the UUID v5 of "user%05d" in a fixed namespace, username user%05d, e-mail
// user%05d@example.com and phone +7900 followed by i in seven digits. All are
// active, opted in to e-mail notifications and subscribed to nothing. They come in
// number order; the handlers serve them by id.
func GenerateUsers(n int) []User {
	users := make([]User, 0, max(n, 0))
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("user%05d", i)
		users = append(users, User{
			ID:                 uuid.NewSHA1(generatedNamespace, []byte(name)).String(),
			Email:              name + "@example.com",
			Phone:              fmt.Sprintf("+7900%07d", i),
			Username:           name,
			FirstName:          generatedNames[(i-1)%len(generatedNames)],
			Locale:             "ru",
			Timezone:           "Europe/Moscow",
			IsActive:           true,
			EmailNotifications: true,
		})
	}
	return users
}

// sortedUsers returns a copy of users ordered by id.
func sortedUsers(users []User) []User {
	out := slices.Clone(users)
	slices.SortStableFunc(out, func(a, b User) int { return strings.Compare(a.ID, b.ID) })
	return out
}
