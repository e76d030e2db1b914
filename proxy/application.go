package proxy

import (
	"net/http"

	"github.com/outpost-dev/outpost/outpostapi"
)

// application serves one provider's external host.
type application struct {
	provider *outpostapi.Provider
	outpost  string
}

// ServeHTTP fails closed: sign-in and upstream proxying arrive with proxy
// mode (issue 3); until then no request reaches an internal host.
func (a *application) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, "provider "+a.provider.Name+": sign-in is not available in this build yet", http.StatusServiceUnavailable)
}
