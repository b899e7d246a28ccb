// Package templates embeds Notifier's built-in notification templates.
//
// Each template is a Markdown file with optional YAML front matter (a "subject" for email,
// inapp and webhook, where it is the message's title) and
// pongo2 syntax, stored under the directory of its channel, one file per language:
// email/welcome.ru.md and email/welcome.en.md make the template postings name
// "email/welcome.md". The HTML part of every email is wrapped in the layout of its language,
// layouts/email.ru.html or layouts/email.en.html. The templating package renders them, choosing
// the file of each recipient's locale (falling back to its language, then to the configured
// default locale, templates.default_locale); a deployment may point Notifier at a directory of
// its own instead.
//
// Values are printed as given in the subject, the text part and SMS; in the HTML part they are
// HTML-escaped and their brackets and backslashes escaped for Markdown, so that a value (a
// user's name, a movie's title) can add neither markup nor a link or an image: only the
// template's own Markdown does.
package templates

import "embed"

// FS holds the email, sms, inapp, webhook and layouts directories.
//
//go:embed email sms inapp webhook layouts
var FS embed.FS
