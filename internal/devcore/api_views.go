package devcore

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/outpost-dev/outpost/outpostapi"
)

// The flows every provider points at. The outpost never follows them, but
// the schema requires them; fixed UUIDs keep responses stable.
var (
	authorizationFlowPK = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://outpost.dev/devcore/flow/default-provider-authorization-implicit-consent")).String()
	invalidationFlowPK  = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://outpost.dev/devcore/flow/default-provider-invalidation-flow")).String()
)

// apiOutpost is an item of GET /api/v3/outposts/instances/ (spec §3.3):
// outpostapi.Outpost with providers_obj items whose flows may be null.
type apiOutpost struct {
	outpostapi.Outpost
	ProvidersObj []apiProviderRef `json:"providers_obj"`
}

// apiProviderRef is an item of providers_obj. The flow fields, shallower
// than ProviderRef's, take their names, so that they can be null.
type apiProviderRef struct {
	outpostapi.ProviderRef
	AuthorizationFlow *string `json:"authorization_flow"`
	InvalidationFlow  *string `json:"invalidation_flow"`
}

// outpostObject is o as GET /api/v3/outposts/instances/ returns it (spec
// §3.3), every required property present, in the shape of the core release
// cfg speaks as.
func outpostObject(cfg *Config, o *OutpostConfig) apiOutpost {
	provs := cfg.providersOf(o)
	// authentik lists the m2m relation in primary-key order.
	slices.SortFunc(provs, func(a, b *ProviderConfig) int { return a.PK - b.PK })
	var authFlow, invalidationFlow *string
	if !cfg.release.nullFlows {
		authFlow, invalidationFlow = &authorizationFlowPK, &invalidationFlowPK
	}
	pks := make([]int, 0, len(provs))
	refs := make([]apiProviderRef, 0, len(provs))
	for _, p := range provs {
		pks = append(pks, p.PK)
		refs = append(refs, apiProviderRef{
			ProviderRef: outpostapi.ProviderRef{
				PK:                                 p.PK,
				Name:                               p.Name,
				Component:                          "ak-provider-proxy-form",
				AssignedApplicationSlug:            p.ApplicationSlug,
				AssignedApplicationName:            p.ApplicationName,
				AssignedBackchannelApplicationSlug: "",
				AssignedBackchannelApplicationName: "",
				VerboseName:                        "Proxy Provider",
				VerboseNamePlural:                  "Proxy Providers",
				MetaModelName:                      "authentik_providers_proxy.proxyprovider",
			},
			AuthorizationFlow: authFlow,
			InvalidationFlow:  invalidationFlow,
		})
	}
	return apiOutpost{
		Outpost: outpostapi.Outpost{
			PK:                   o.PK,
			Name:                 o.Name,
			Type:                 "proxy",
			Providers:            pks,
			ServiceConnection:    nil,
			ServiceConnectionObj: json.RawMessage("null"),
			RefreshIntervalS:     o.RefreshIntervalS,
			TokenIdentifier:      "ak-outpost-" + o.PK + "-api",
			Config:               o.Config,
			Managed:              nil,
		},
		ProvidersObj: refs,
	}
}

// proxyOutpostConfig is p as GET /api/v3/outposts/proxy/ returns it (spec
// §3.2); base is the caller's scheme://host, from which authentik builds the
// OIDC URLs.
func proxyOutpostConfig(cfg *Config, p *ProviderConfig, base string) outpostapi.ProxyOutpostConfig {
	var cert *string
	if p.Certificate != "" {
		id := cfg.Certificates[cfg.certNameIdx[p.Certificate]].UUID
		cert = &id
	}
	validity := *p.AccessTokenValidity
	return outpostapi.ProxyOutpostConfig{
		PK:                         p.PK,
		Name:                       p.Name,
		InternalHost:               p.InternalHost,
		ExternalHost:               p.ExternalHost,
		InternalHostSSLValidation:  *p.InternalHostSSLValidation,
		ClientID:                   p.ClientID,
		ClientSecret:               p.ClientSecret,
		OIDCConfiguration:          oidcConfiguration(base, p.ApplicationSlug, signingAlg(cfg, p)),
		CookieSecret:               p.CookieSecret,
		Certificate:                cert,
		SkipPathRegex:              p.SkipPathRegex,
		BasicAuthEnabled:           p.BasicAuthEnabled,
		BasicAuthPasswordAttribute: p.BasicAuthPasswordAttribute,
		BasicAuthUserAttribute:     p.BasicAuthUserAttribute,
		Mode:                       p.Mode,
		CookieDomain:               p.CookieDomain,
		AccessTokenValidity:        &validity,
		InterceptHeaderAuth:        *p.InterceptHeaderAuth,
		ScopesToRequest:            append(make([]string, 0, len(p.ScopesToRequest)), p.ScopesToRequest...),
		AssignedApplicationSlug:    p.ApplicationSlug,
		AssignedApplicationName:    p.ApplicationName,
	}
}

// apiCertificate is authentik's CertificateKeyPair with every property its
// schema marks required; outpostapi.CertificateKeyPair holds the ones the
// outpost reads.
type apiCertificate struct {
	outpostapi.CertificateKeyPair
	CertExpiry             time.Time `json:"cert_expiry"`
	CertSubject            string    `json:"cert_subject"`
	KeyType                *string   `json:"key_type"`
	CertificateDownloadURL string    `json:"certificate_download_url"`
	PrivateKeyDownloadURL  string    `json:"private_key_download_url"`
	Managed                *string   `json:"managed"`
}

func certificateObject(cc *CertificateConfig) apiCertificate {
	m := &cc.material
	base := "/api/v3/crypto/certificatekeypairs/" + cc.UUID
	out := apiCertificate{
		CertificateKeyPair: outpostapi.CertificateKeyPair{
			PK:                  cc.UUID,
			Name:                cc.Name,
			FingerprintSHA256:   m.fingerprintSHA256,
			FingerprintSHA1:     m.fingerprintSHA1,
			PrivateKeyAvailable: m.keyPEM != "",
		},
		CertExpiry:             m.notAfter.UTC(),
		CertSubject:            m.subject,
		CertificateDownloadURL: base + "/view_certificate/?download",
	}
	if m.keyType != "" {
		kt := m.keyType
		out.KeyType = &kt
	}
	if m.keyPEM != "" {
		out.PrivateKeyDownloadURL = base + "/view_private_key/?download"
	}
	return out
}

// rootConfig is GET /api/v3/root/config/: error reporting off, authentik's
// default cache timeouts, the capabilities of the release cfg speaks as.
func rootConfig(cfg *Config) outpostapi.RootConfig {
	return outpostapi.RootConfig{
		ErrorReporting: outpostapi.ErrorReporting{
			Enabled:          false,
			SentryDSN:        "",
			Environment:      "devcore",
			SendPII:          false,
			TracesSampleRate: 0,
		},
		Capabilities:         slices.Clone(cfg.release.capabilities),
		CacheTimeout:         300,
		CacheTimeoutFlows:    300,
		CacheTimeoutPolicies: 300,
	}
}
