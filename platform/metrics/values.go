package metrics

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Values are the samples of a scrape by series, such as
// `notifier_deliveries_total{channel="email",lane="bulk",result="sent"}`:
// the metric name, then its labels sorted by name (no braces without
// labels). A histogram gives its "_count" and "_sum" series, a summary too.
// Tests read what /metrics says through it.
type Values map[string]float64

// Series returns the key of a series in Values: name with the labels given
// as name, value pairs.
func Series(name string, labelPairs ...string) string {
	if len(labelPairs)%2 != 0 {
		panic("metrics: Series needs label name, value pairs")
	}
	type pair struct{ name, value string }
	pairs := make([]pair, 0, len(labelPairs)/2)
	for i := 0; i < len(labelPairs); i += 2 {
		pairs = append(pairs, pair{labelPairs[i], labelPairs[i+1]})
	}
	slices.SortFunc(pairs, func(a, b pair) int { return strings.Compare(a.name, b.name) })
	if len(pairs) == 0 {
		return name
	}
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = fmt.Sprintf("%s=%q", p.name, p.value)
	}
	return name + "{" + strings.Join(parts, ",") + "}"
}

// Gather returns the values g holds now.
func Gather(g prometheus.Gatherer) (Values, error) {
	families, err := g.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather metrics: %w", err)
	}
	return flatten(families), nil
}

// ParseText returns the values of a scrape in the Prometheus text format,
// such as the body of GET /metrics.
func ParseText(r io.Reader) (Values, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	byName, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	families := make([]*dto.MetricFamily, 0, len(byName))
	for _, f := range byName {
		families = append(families, f)
	}
	return flatten(families), nil
}

func flatten(families []*dto.MetricFamily) Values {
	v := Values{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName(), l.GetValue())
			}
			name := f.GetName()
			switch {
			case m.Counter != nil:
				v[Series(name, labels...)] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				v[Series(name, labels...)] = m.GetGauge().GetValue()
			case m.Untyped != nil:
				v[Series(name, labels...)] = m.GetUntyped().GetValue()
			case m.Histogram != nil:
				v[Series(name+"_count", labels...)] = float64(m.GetHistogram().GetSampleCount())
				v[Series(name+"_sum", labels...)] = m.GetHistogram().GetSampleSum()
			case m.Summary != nil:
				v[Series(name+"_count", labels...)] = float64(m.GetSummary().GetSampleCount())
				v[Series(name+"_sum", labels...)] = m.GetSummary().GetSampleSum()
			}
		}
	}
	return v
}

// Has reports whether the series is present.
func (v Values) Has(series string) bool {
	_, ok := v[series]
	return ok
}

// Named returns the series of the metric name (a histogram's "_count" and
// "_sum" are names of their own), for messages and label checks.
func (v Values) Named(name string) Values {
	out := Values{}
	for series, value := range v {
		if series == name || strings.HasPrefix(series, name+"{") {
			out[series] = value
		}
	}
	return out
}
