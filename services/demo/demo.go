// Package demo fills a fresh store with a realistic sample in Chinese: a
// sub-district working committee (街道工委) with eight communities, three
// non-public organisations and their branches; last year's annual review
// with about sixty rectification items in every state, some overdue and some
// carried over from the year before; and commitments with a year of logged
// activities.
//
// Everything goes through the command side with a clock that walks forward
// through the year, so the sample obeys every rule and its timelines read
// like real work.
package demo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"rectify/events"
	"rectify/services"
	"rectify/services/eventstore"
)

// Options tune Seed.
type Options struct {
	// Now is the demo's "today": the review happened about ten months
	// before it. Default time.Now().
	Now time.Time
	// Seed makes the sample repeatable. Default 2019.
	Seed uint64
	// PutEvidence stores an evidence file's bytes where downloads find them
	// and returns the content type. Nil: evidence is recorded but no bytes
	// are stored.
	PutEvidence func(name string, data []byte) (contentType string, err error)
}

// Result says what Seed created.
type Result struct {
	Commands int
	Items    int
	// Tokens maps demo user ids to their API tokens, one per role, so that a
	// person can try the dashboard as a reviewer, an editor or a viewer.
	Tokens map[string]string
	Users  map[string]string // user id -> display name
}

// step is one command executed at a moment of the demo's year.
type step struct {
	at    time.Time
	actor string
	cmd   events.Command
}

type unit struct{ id, name, kind, parent, editor, secretary string }

var units = []unit{
	{"gw", "城关街道工委", events.UnitCommittee, "", "", ""},
	{"sq-dongfeng", "东风社区党委", events.UnitCommunity, "gw", "u-dongfeng", "王秀兰"},
	{"sq-xinhua", "新华社区党委", events.UnitCommunity, "gw", "u-xinhua", "刘建国"},
	{"sq-heping", "和平社区党支部", events.UnitCommunity, "gw", "u-heping", "陈丽"},
	{"sq-yingbin", "迎宾社区党委", events.UnitCommunity, "gw", "u-yingbin", "张伟"},
	{"sq-binhe", "滨河社区党支部", events.UnitCommunity, "gw", "u-binhe", "赵敏"},
	{"sq-chaoyang", "朝阳社区党委", events.UnitCommunity, "gw", "u-chaoyang", "孙强"},
	{"sq-jinqiao", "金桥社区党支部", events.UnitCommunity, "gw", "u-jinqiao", "周静"},
	{"sq-xingfu", "幸福社区党支部", events.UnitCommunity, "gw", "u-xingfu", "吴磊"},
	{"fg-huaxin", "华鑫科技有限公司党支部", events.UnitNonPublic, "gw", "u-huaxin", "郑海涛"},
	{"fg-huaxin-rd", "华鑫科技研发中心党小组", events.UnitBranch, "fg-huaxin", "", ""},
	{"fg-lvyuan", "绿源物业服务中心党支部", events.UnitNonPublic, "gw", "u-lvyuan", "冯晓燕"},
	{"fg-lvyuan-1", "绿源物业第一项目部党小组", events.UnitBranch, "fg-lvyuan", "", ""},
	{"fg-shequ", "城关社会组织联合党委", events.UnitNonPublic, "gw", "u-shequ", "何宁"},
	{"fg-shequ-yg", "阳光志愿者协会党支部", events.UnitBranch, "fg-shequ", "", ""},
}

type problem struct{ title, category, measure1, measure2 string }

var problems = []problem{
	{"理论学习不够深入，学用结合不紧密", "思想建设", "制定年度学习计划，每月集中学习不少于1次", "开展“学用结合”专题研讨，形成调研报告"},
	{"基层党组织标准化建设不平衡", "组织建设", "对照标准化清单逐项自查", "建立问题台账，逐项整改销号"},
	{"非公企业党组织覆盖质量不高", "组织建设", "排查辖区非公企业党员情况", "选派党建指导员驻点指导"},
	{"“三会一课”落实不规范，记录不完整", "制度建设", "统一会议记录本并开展培训", "每季度抽查一次会议记录"},
	{"党员发展把关不严，发展对象培养不足", "组织建设", "完善发展党员全程纪实", "建立入党积极分子培养台账"},
	{"党建工作台账不完整、更新不及时", "制度建设", "规范台账目录和归档要求", "每月由专人核对更新"},
	{"联系服务群众走访不够经常", "服务群众", "落实领导干部包片走访制度", "建立走访记录和问题反馈清单"},
	{"流动党员管理存在薄弱环节", "组织建设", "摸清流动党员底数并建立联系卡", "每季度开展一次线上组织生活"},
	{"党员教育管理手段单一", "思想建设", "开设“党员微课堂”", "利用学习平台开展线上学习"},
	{"矛盾纠纷排查化解不及时", "服务群众", "建立网格员每周排查机制", "对重点纠纷实行专人包案"},
	{"意识形态工作责任制落实不到位", "思想建设", "明确意识形态工作责任清单", "每半年专题研判一次"},
	{"党组织活动阵地利用率不高", "服务群众", "制定阵地开放时间表", "引入社会组织开展活动"},
	{"主题党日活动形式单一、吸引力不强", "作风建设", "征集党员对活动形式的意见", "每季度组织一次实践型主题党日"},
	{"党费收缴管理不规范", "制度建设", "核对党员党费基数", "建立党费收缴公示制度"},
	{"社区工作者专业化水平不高", "作风建设", "开展社区工作者轮训", "鼓励参加社工职业资格考试"},
}

// Seed runs the demo against store through a command service of its own,
// whose clock walks through the demo's year. The store must hold nothing
// but the bootstrap administrator.
func Seed(ctx context.Context, store eventstore.Store, opts Options) (Result, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.Seed == 0 {
		opts.Seed = 2019
	}
	if fresh, err := isFresh(ctx, store); err != nil {
		return Result{}, err
	} else if !fresh {
		return Result{}, events.Errorf(events.CodeConflict, "the store already holds data; the demo only fills a fresh data directory")
	}
	var mu sync.Mutex
	clock := opts.Now
	svc := services.New(store, services.Options{Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return clock
	}})
	loc := time.FixedZone("CST", 8*3600)
	now := opts.Now.In(loc)
	day := func(t time.Time) events.Date { return events.DateFrom(t, loc) }
	review := time.Date(now.Year(), now.Month(), now.Day(), 9, 0, 0, 0, loc).AddDate(0, -10, 0)
	rng := rand.New(rand.NewPCG(opts.Seed, 42))
	res := Result{Tokens: map[string]string{}, Users: map[string]string{}}

	var steps []step
	at := func(t time.Time, actor string, c events.Command) {
		steps = append(steps, step{at: t, actor: actor, cmd: c})
	}
	admin := services.AdminUserID
	start := review.AddDate(0, 0, -400)

	// The organisation, its people and their roles.
	for i, u := range units {
		at(start.Add(time.Duration(i)*time.Minute), admin, events.RegisterUnit{UnitID: u.id, Name: u.name, Kind: u.kind, ParentID: u.parent})
	}
	users := []struct{ id, name, role, unit string }{
		{"u-reviewer", "李明（组织委员）", events.RoleReviewer, "gw"},
		{"u-viewer", "街道纪工委观察员", events.RoleViewer, "gw"},
	}
	for _, u := range units {
		if u.editor != "" {
			users = append(users, struct{ id, name, role, unit string }{u.editor, u.secretary + "（" + u.name + "书记）", events.RoleEditor, u.id})
		}
	}
	for i, u := range users {
		t := start.Add(time.Hour + time.Duration(i)*time.Minute)
		at(t, admin, events.CreateUser{UserID: u.id, Name: u.name})
		at(t.Add(time.Second), admin, events.GrantRole{UserID: u.id, Role: u.role, UnitID: u.unit})
		res.Users[u.id] = u.name
	}
	tokenFor := []string{"u-reviewer", "u-viewer", "u-dongfeng"}

	// Two cycles: the year before last, whose unfinished items are carried
	// over, and last year's review with most of the items.
	prevStart, curStart := review.AddDate(-1, 0, 0), review
	at(prevStart.AddDate(0, 0, -1), admin, events.OpenCycle{CycleID: "y-prev", Name: fmt.Sprintf("%d年度抓基层党建工作述职评议", prevStart.Year()-1), Year: prevStart.Year() - 1,
		Kind: events.CycleAnnualReview, Start: day(prevStart), End: day(curStart.AddDate(0, 0, -1))})
	at(curStart.AddDate(0, 0, -1), admin, events.OpenCycle{CycleID: "y-cur", Name: fmt.Sprintf("%d年度抓基层党建工作述职评议", curStart.Year()-1), Year: curStart.Year() - 1,
		Kind: events.CycleAnnualReview, Start: day(curStart), End: day(curStart.AddDate(1, 0, -1))})

	// The committee's scoring rules (考核细则), in force from the start, so
	// that every week, month and quarter of the sample can be assessed.
	at(start.Add(2*time.Hour), admin, events.DraftRuleset{RulesetID: "kh", Name: "城关街道工委月度考核细则", Rules: events.DefaultScoringRules()})
	at(start.Add(2*time.Hour+time.Second), admin, events.PublishRuleset{RulesetID: "kh", Note: "经工委会议研究通过"})

	owners := []unit{}
	for _, u := range units {
		if u.editor != "" {
			owners = append(owners, u)
		}
	}
	item := 0
	plan := func(cycle string, raised time.Time, fate string) {
		item++
		id := fmt.Sprintf("zg-%03d", item)
		p := problems[(item*7)%len(problems)]
		u := owners[item%len(owners)]
		deadline := raised.AddDate(0, 3+rng.IntN(8), 0)
		if fate == "overdue" {
			deadline = now.AddDate(0, 0, -10-rng.IntN(120))
		}
		if fate == "due-soon" {
			deadline = now.AddDate(0, 0, 2+rng.IntN(5))
		}
		a := func(d int) time.Time { return raised.AddDate(0, 0, d).Add(time.Duration(rng.IntN(8*60)) * time.Minute) }
		past := func(t time.Time) time.Time { // nothing happens in the future
			if t.After(now) {
				return now.Add(-time.Hour)
			}
			return t
		}
		severity := []string{events.SeverityNormal, events.SeverityHigh, events.SeverityLow}[item%3]
		at(raised, admin, events.RaiseItem{ItemID: id, CycleID: cycle, UnitID: u.id, Title: p.title,
			Description: fmt.Sprintf("%s在述职评议中被指出：%s。", u.name, p.title), Category: p.category,
			Source: "述职评议会议点评意见", Severity: severity, Deadline: day(deadline)})
		if fate == "raised" {
			return
		}
		at(a(2), admin, events.AssignItem{ItemID: id, UnitID: u.id, OwnerID: u.editor, OwnerName: u.secretary})
		if fate == "assigned" {
			return
		}
		if fate == "withdrawn" {
			at(past(a(20)), admin, events.WithdrawItem{ItemID: id, Reason: "经核实，该问题与第" + fmt.Sprint(item-1) + "项重复，合并整改"})
			return
		}
		m1, m2 := id+"-m1", id+"-m2"
		at(a(5), u.editor, events.PlanMeasure{ItemID: id, MeasureID: m1, Text: p.measure1, OwnerID: u.editor, OwnerName: u.secretary, Due: day(deadline.AddDate(0, -1, 0))})
		at(a(5), u.editor, events.PlanMeasure{ItemID: id, MeasureID: m2, Text: p.measure2, OwnerID: u.editor, OwnerName: u.secretary, Due: day(deadline)})
		pct := func(n int) *int { return &n }
		at(past(a(25)), u.editor, events.ReportProgress{ItemID: id, Percent: pct(30), Note: "已完成自查，形成问题清单"})
		if fate == "deadline-moved" {
			nd := now.AddDate(0, 2, 0)
			at(past(a(40)), admin, events.ChangeDeadline{ItemID: id, Deadline: day(nd), Reason: "涉及多部门协调，经工委会议研究同意延期"})
		}
		if fate == "in-progress" || fate == "overdue" || fate == "due-soon" || fate == "deadline-moved" || fate == "carried" {
			at(past(a(45)), u.editor, events.CompleteMeasure{ItemID: id, MeasureID: m1, Note: "已按计划完成"})
			at(past(a(50)), u.editor, events.ReportProgress{ItemID: id, Percent: pct(60), Note: "第一项措施已落实，第二项推进中"})
			return
		}
		// submitted, closed, rejected-then-closed, reopened
		at(a(40), u.editor, events.CompleteMeasure{ItemID: id, MeasureID: m1, Note: "已按计划完成"})
		at(a(60), u.editor, events.CompleteMeasure{ItemID: id, MeasureID: m2, Note: "已形成长效机制"})
		name := fmt.Sprintf("%s-整改佐证材料.txt", id)
		body := []byte(fmt.Sprintf("%s\n整改事项：%s\n措施一：%s\n措施二：%s\n", u.name, p.title, p.measure1, p.measure2))
		sum := sha256.Sum256(body)
		ctype := "text/plain; charset=utf-8"
		if opts.PutEvidence != nil {
			t, err := opts.PutEvidence(name, body)
			if err == nil {
				ctype = t
			}
		}
		at(a(61), u.editor, events.AttachEvidence{ItemID: id, EvidenceID: id + "-e1", Name: name, Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:]), ContentType: ctype})
		at(a(62), u.editor, events.ReportProgress{ItemID: id, Percent: pct(100), Note: "整改措施全部完成，申请验收"})
		at(a(63), u.editor, events.SubmitItem{ItemID: id, Note: "请组织委员验收"})
		if fate == "submitted" {
			return
		}
		if fate == "rejected" {
			at(a(65), "u-reviewer", events.RejectItem{ItemID: id, Reason: "佐证材料不完整，缺少会议记录原件扫描件"})
			at(a(70), u.editor, events.ReportProgress{ItemID: id, Percent: pct(100), Note: "已补充会议记录扫描件"})
			at(a(71), u.editor, events.SubmitItem{ItemID: id, Note: "已补充材料，请再次验收"})
		}
		at(a(75), "u-reviewer", events.VerifyItem{ItemID: id, Note: "经实地查看和查阅资料，整改到位，同意销号"})
		if fate == "reopened" {
			at(past(a(120)), "u-reviewer", events.ReopenItem{ItemID: id, Reason: "回头看发现问题反弹，重新整改"})
		}
	}
	// The year before last: ten items, most finished, four carried over.
	for i, fate := range []string{"closed", "closed", "closed", "rejected", "closed", "withdrawn", "carried", "carried", "carried", "carried"} {
		plan("y-prev", prevStart.AddDate(0, 0, 3+i), fate)
	}
	carried := []string{"zg-007", "zg-008", "zg-009", "zg-010"}
	for i, id := range carried {
		at(curStart.Add(time.Duration(i)*time.Minute), admin, events.CarryOverItem{ItemID: id, ToCycleID: "y-cur", Reason: "上年度未完成整改，结转至本年度继续整改"})
	}
	at(curStart.Add(time.Hour), admin, events.CloseCycle{CycleID: "y-prev", Note: "未完成事项已结转"})
	// Last year's review: sixty items in every state.
	fates := map[string]int{"closed": 16, "rejected": 4, "submitted": 7, "in-progress": 10, "overdue": 8, "due-soon": 3,
		"deadline-moved": 4, "reopened": 2, "assigned": 3, "raised": 1, "withdrawn": 2}
	var order []string
	for f, n := range fates {
		for range n {
			order = append(order, f)
		}
	}
	slices.Sort(order)
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	for i, fate := range order {
		plan("y-cur", curStart.AddDate(0, 0, 3+i/4).Add(time.Duration(i)*time.Minute), fate)
	}
	res.Items = item

	// Commitments with a year of logged activities.
	type promise struct {
		id, unit, person, personName, title, activity, period string
		target                                                int
		keep                                                  float64 // share of periods met
	}
	promises := []promise{
		{"cn-gw-meeting", "gw", "", "", "每月召开1次党建工作专题会议", "专题会议", events.PeriodMonth, 1, 0.92},
		{"cn-dongfeng-visit", "sq-dongfeng", "u-dongfeng", "王秀兰", "社区书记每周至少到网格入户走访2次", "入户走访", events.PeriodWeek, 2, 0.85},
		{"cn-dongfeng-help", "sq-dongfeng", "", "", "每周为居民解决实际问题不少于3件", "解决居民问题", events.PeriodWeek, 3, 0.8},
		{"cn-xinhua-help", "sq-xinhua", "", "", "每周为居民解决实际问题不少于3件", "解决居民问题", events.PeriodWeek, 3, 0.7},
		{"cn-heping-care", "sq-heping", "", "", "每月走访弱势群体5户", "走访弱势群体", events.PeriodMonth, 5, 0.9},
		{"cn-binhe-care", "sq-binhe", "", "", "每月走访弱势群体5户", "走访弱势群体", events.PeriodMonth, 5, 0.6},
		{"cn-huaxin-day", "fg-huaxin", "", "", "每季度开展1次主题党日活动", "主题党日", events.PeriodQuarter, 1, 1},
		{"cn-lvyuan-day", "fg-lvyuan", "", "", "每季度开展1次主题党日活动", "主题党日", events.PeriodQuarter, 1, 0.75},
	}
	editorOf := map[string]string{"gw": admin}
	for _, u := range units {
		if u.editor != "" {
			editorOf[u.id] = u.editor
		}
	}
	cStart := curStart.AddDate(0, 0, 10)
	for _, p := range promises {
		at(cStart, admin, events.MakeCommitment{CommitmentID: p.id, CycleID: "y-cur", UnitID: p.unit, PersonID: p.person, PersonName: p.personName,
			Title: p.title, Activity: p.activity, Target: p.target, Period: p.period, Start: day(cStart), End: day(curStart.AddDate(1, 0, -1))})
		logger := editorOf[p.unit]
		if p.person != "" {
			logger = p.person
		}
		for ps := cStart; ps.Before(now); {
			var pe time.Time
			switch p.period {
			case events.PeriodWeek:
				pe = ps.AddDate(0, 0, 7)
			case events.PeriodMonth:
				pe = ps.AddDate(0, 1, 0)
			default:
				pe = ps.AddDate(0, 3, 0)
			}
			n := p.target
			if rng.Float64() > p.keep {
				n = rng.IntN(p.target) // a missed period
			}
			for k := 0; k < n; k++ {
				t := ps.Add(time.Duration(rng.Int64N(int64(pe.Sub(ps)))))
				if t.After(now) {
					continue
				}
				at(t, logger, events.LogActivity{CommitmentID: p.id, Count: 1, OccurredOn: day(t),
					Note: fmt.Sprintf("%s：%s", p.activity, []string{"已完成并记录", "形成工作记录", "群众反映良好"}[k%3])})
			}
			ps = pe
		}
	}

	slices.SortStableFunc(steps, func(a, b step) int { return a.at.Compare(b.at) })
	for i, s := range steps {
		mu.Lock()
		clock = s.at
		mu.Unlock()
		if _, err := svc.Execute(ctx, s.cmd, services.Meta{Actor: s.actor, IdempotencyKey: fmt.Sprintf("demo-%d", i)}); err != nil {
			return res, fmt.Errorf("demo step %d (%s at %s by %s): %w", i, s.cmd.CommandName(), s.at.Format(time.DateTime), s.actor, err)
		}
		res.Commands++
	}
	mu.Lock()
	clock = now
	mu.Unlock()
	for _, uid := range tokenFor {
		r, err := svc.Execute(ctx, events.IssueToken{UserID: uid, Label: "demo"}, services.Meta{Actor: admin})
		if err != nil {
			return res, fmt.Errorf("demo token for %s: %w", uid, err)
		}
		res.Tokens[uid] = r.Extra["token"]
	}
	return res, nil
}

// isFresh reports whether the store holds nothing but the bootstrap
// administrator's stream.
func isFresh(ctx context.Context, store eventstore.Store) (bool, error) {
	evs, err := store.ReadAll(ctx, 0, 20)
	if err != nil {
		return false, err
	}
	for _, e := range evs {
		if e.Stream != events.UserStream(services.AdminUserID) {
			return false, nil
		}
	}
	return true, nil
}
