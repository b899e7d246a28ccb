package httpapi

import "github.com/danielgtaylor/huma/v2"

// Routes is implemented by each module's HTTP port: RegisterRoutes adds its
// operations to the API. Modules contribute Routes to the fx value group
// "routes".
type Routes interface {
	RegisterRoutes(api huma.API)
}
