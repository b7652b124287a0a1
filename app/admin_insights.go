package app

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"sessiond/models"
)

const (
	insightDays = 30
	insightTop  = 10
)

// chart geometry, in SVG user units.
const (
	chartW, chartH         = 720, 180
	chartLeft, chartRight  = 56, 12
	chartTop, chartBottom  = 12, 28
	chartPlotW, chartPlotH = chartW - chartLeft - chartRight, chartH - chartTop - chartBottom
	chartBaseY             = chartTop + chartPlotH
	chartBarGap            = 2.0
	chartLabelEvery        = 7
	chartTicks             = 4
)

type chartBar struct {
	X, Y, W, H float64
	Label      string // accessible text of the bar
}

type chartTick struct {
	Y     float64
	Label string
}

type chartXLabel struct {
	X     float64
	Label string
}

// chartPanel is one measure on its own axis: sign-ins in the tens beside
// active sessions in the hundred thousands would vanish on a shared one.
type chartPanel struct {
	Bars    []chartBar
	Line    string // polyline points
	Ticks   []chartTick
	XLabels []chartXLabel
}

// insightsView is the picture the template draws: everything positioned
// here, so the template only places numbers.
type insightsView struct {
	Days      []models.DayFigure
	TopUsers  []models.TopUser
	Countries []models.CountryCount
	SignIns   chartPanel // bars
	Active    chartPanel // a line
	W, H      int
	Left      int
	Right     int
	BaseY     int
	Summary   string
	TickLabel int
}

// insightsTTL: the picture is of days, so a figure half a minute old is
// fine, and every admin opening the sessions page does not re-read 30 days.
const insightsTTL = 30 * time.Second

// readInsights is models.ReadInsights, at most insightsTTL old.
func (s *Server) readInsights(ctx context.Context) (*models.Insights, error) {
	return s.insights.get(insightsTTL, func() (*models.Insights, error) {
		return models.ReadInsights(ctx, s.db, s.sessions.Now(), insightDays, insightTop)
	})
}

// handleInsights is the dashboard's picture: sign-ins and active sessions
// per day over 30 days and the users with the most sessions.
func (s *Server) handleInsights(c *fiber.Ctx) error {
	ins, err := s.readInsights(c.UserContext())
	if err != nil {
		return err
	}
	if wantsJSON(c) {
		return c.JSON(ins)
	}
	return s.view(c, fiber.StatusOK, "admin/insights", "admin/insights_section", Page{Title: "Insights", Nav: "admin-insights", Data: buildChart(ins)})
}

func buildChart(ins *models.Insights) insightsView {
	v := insightsView{Days: ins.Days, TopUsers: ins.TopUsers, Countries: ins.Countries, W: chartW, H: chartH, Left: chartLeft, Right: chartW - chartRight, BaseY: chartBaseY, TickLabel: chartLeft - 6}
	n := len(ins.Days)
	if n == 0 {
		return v
	}
	var topSignIns, topActive int64 = 1, 1
	var signIns, peak int64
	for _, d := range ins.Days {
		topSignIns, topActive = max(topSignIns, d.SignIns), max(topActive, d.Active)
		signIns += d.SignIns
		peak = max(peak, d.Active)
	}
	topSignIns, topActive = niceCeil(topSignIns), niceCeil(topActive)
	step := float64(chartPlotW) / float64(n)
	y := func(val, top int64) float64 { return chartTop + float64(chartPlotH)*(1-float64(val)/float64(top)) }
	points := make([]string, 0, n)
	var xlabels []chartXLabel
	for i, d := range ins.Days {
		x := chartLeft + float64(i)*step
		h := float64(chartPlotH) * float64(d.SignIns) / float64(topSignIns)
		v.SignIns.Bars = append(v.SignIns.Bars, chartBar{
			X: round1(x + chartBarGap/2), Y: round1(chartBaseY - h), W: round1(max(step-chartBarGap, 1)), H: round1(h),
			Label: fmt.Sprintf("%s: %s", d.Day.Format("Jan 2"), plural(int(d.SignIns), "sign-in")),
		})
		points = append(points, fmt.Sprintf("%g,%g", round1(x+step/2), round1(y(d.Active, topActive))))
		if i%chartLabelEvery == 0 || (i == n-1 && i%chartLabelEvery > chartLabelEvery/2) {
			xlabels = append(xlabels, chartXLabel{X: round1(x + step/2), Label: d.Day.Format("Jan 2")})
		}
	}
	v.Active.Line = strings.Join(points, " ")
	v.SignIns.XLabels, v.Active.XLabels = xlabels, xlabels
	for i := 0; i <= chartTicks; i++ {
		a, b := topSignIns*int64(i)/chartTicks, topActive*int64(i)/chartTicks
		v.SignIns.Ticks = append(v.SignIns.Ticks, chartTick{Y: round1(y(a, topSignIns)), Label: compactNumber(a)})
		v.Active.Ticks = append(v.Active.Ticks, chartTick{Y: round1(y(b, topActive)), Label: compactNumber(b)})
	}
	v.Summary = fmt.Sprintf("%s from %s to %s; at most %s on one day.",
		plural(int(signIns), "sign-in"), ins.Days[0].Day.Format("Jan 2"), ins.Days[n-1].Day.Format("Jan 2, 2006"), plural(int(peak), "active session"))
	return v
}

// compactNumber labels an axis: 950, 9,500, 95k, 1.2M.
func compactNumber(n int64) string {
	switch {
	case n < 10_000:
		return thousands(int(n))
	case n < 1_000_000:
		return strconv.FormatInt(n/1000, 10) + "k"
	}
	return strconv.FormatFloat(float64(n)/1e6, 'f', -1, 64) + "M"
}

// niceCeil rounds an axis maximum up so each of the chartTicks steps is
// 1, 2, 2.5 or 5 times a power of ten (whole numbers only).
func niceCeil(v int64) int64 {
	for p := int64(1); ; p *= 10 {
		// p*25/10 is 2.5p for p ≥ 10 and repeats 2p for p = 1.
		for _, step := range []int64{p, 2 * p, p * 25 / 10, 5 * p} {
			if step*chartTicks >= v {
				return step * chartTicks
			}
		}
	}
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }
