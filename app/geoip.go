package app

import (
	"fmt"
	"net/netip"

	"github.com/oschwald/maxminddb-golang/v2"
)

// geoIP finds where an address is, from a MaxMind-format database
// (GeoLite2-City, DB-IP Lite City) named by GEOIP_DB. A nil *geoIP knows
// nothing, which is how sessiond runs without the file.
type geoIP struct {
	r *maxminddb.Reader
}

// cityRecord is the part of a City database record sessiond shows.
type cityRecord struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	City struct {
		Names map[string]string `maxminddb:"names"`
	} `maxminddb:"city"`
}

// openGeoIP opens and checks the database: a file that opens but cannot
// answer a lookup is as broken as one that does not open.
func openGeoIP(path string) (*geoIP, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("GEOIP_DB %s: %w", path, err)
	}
	var rec cityRecord
	if err := r.Lookup(netip.MustParseAddr("1.1.1.1")).Decode(&rec); err != nil {
		r.Close()
		return nil, fmt.Errorf("GEOIP_DB %s: not a City database: %w", path, err)
	}
	return &geoIP{r: r}, nil
}

// locate returns the ISO country code and English city name of ip, empty
// when unknown (a private address, no database).
func (g *geoIP) locate(ip string) (country, city string) {
	if g == nil {
		return "", ""
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return "", ""
	}
	var rec cityRecord
	if err := g.r.Lookup(addr.Unmap()).Decode(&rec); err != nil {
		return "", ""
	}
	return rec.Country.ISOCode, rec.City.Names["en"]
}

func (g *geoIP) Close() error {
	if g == nil {
		return nil
	}
	return g.r.Close()
}
