package gen

// The words of a generated history: what a sub-district working committee
// and its units write into rectify. Mostly Chinese, with some English, so
// that every text column of every view carries both.

// problem is one kind of finding, with the measures that usually answer it.
type problem struct {
	title    string
	category string
	measures []string
}

var problems = []problem{
	{"“三会一课”制度执行不严格，会议记录缺项漏项", "组织建设", []string{"统一印发会议记录模板并组织培训", "由组织委员每月核查会议记录", "将执行情况纳入季度考核"}},
	{"党员发展程序不规范，培养考察材料不全", "组织建设", []string{"逐一补齐发展对象培养考察材料", "建立发展党员全程纪实台账"}},
	{"流动党员底数不清，联系不经常", "组织建设", []string{"开展流动党员摸底排查", "为每名流动党员确定联系人", "每季度开展一次线上组织生活"}},
	{"党组织书记抓党建述职问题整改不到位", "组织建设", []string{"召开专题民主生活会查摆原因", "制定整改清单并公开承诺"}},
	{"理论学习流于形式，学用结合不紧", "思想建设", []string{"制定年度学习计划", "每月开展一次专题研讨", "形成学习心得和调研报告"}},
	{"意识形态阵地管理存在薄弱环节", "思想建设", []string{"排查辖区宣传栏和微信群", "明确阵地管理责任人"}},
	{"联系服务群众不够深入，走访覆盖面不足", "服务群众", []string{"落实网格员每周入户走访", "建立走访问题反馈清单", "对反映问题限时办结"}},
	{"居民诉求响应不及时，办结率偏低", "服务群众", []string{"建立诉求受理登记制度", "实行首问负责和限时办结", "每月通报办结情况"}},
	{"老旧小区加装电梯协调推进缓慢", "服务群众", []string{"逐栋征求居民意见", "协调规划和住建部门现场办公"}},
	{"党群服务中心开放时间短、利用率不高", "阵地建设", []string{"调整开放时间至晚八点", "引入社会组织开展公益活动"}},
	{"阵地标识标牌不规范", "阵地建设", []string{"按统一标准更换标识标牌"}},
	{"党费收缴不及时，公示不规范", "制度建设", []string{"核定党员党费缴纳基数", "每季度公示党费收缴情况"}},
	{"工作台账不完整、更新不及时", "制度建设", []string{"规范台账目录和归档要求", "指定专人每月更新核对"}},
	{"财务报销审批手续不全", "制度建设", []string{"完善报销审批流程", "对近一年票据进行全面自查"}},
	{"违规使用公车问题", "作风建设", []string{"开展公车使用专项检查", "建立公车使用登记制度"}},
	{"会议多、文件多，基层负担重", "作风建设", []string{"精简会议和文件数量", "合并同类检查考核事项"}},
	{"消防通道长期被占用", "安全生产", []string{"联合物业清理占道杂物", "设置禁停标识并定期巡查"}},
	{"电动车违规充电隐患突出", "安全生产", []string{"建设集中充电桩", "开展入户安全宣传", "对违规充电行为登记劝导"}},
	{"燃气管道老化存在泄漏风险", "安全生产", []string{"联系燃气公司检测管道", "更换老化管道和阀门"}},
	{"非公企业党组织作用发挥不明显", "组织建设", []string{"选派党建指导员驻企指导", "组织党员亮身份、作承诺"}},
	{"Street lighting on the riverside path is broken", "Public services", []string{"Survey every lamp on the path with the property office", "Replace faulty lamps and fix a monthly inspection"}},
	{"Meeting minutes of the branch are incomplete", "Party organisation", []string{"Adopt the standard minutes template", "Have the branch secretary sign off minutes monthly"}},
	{"Residents' complaints are answered too slowly", "Public services", []string{"Log every complaint on the day it arrives", "Answer within five working days and report monthly"}},
	{"Fire escape in building 3 blocked by bicycles", "Safety", []string{"Clear the escape with the property manager", "Install a bicycle shelter outside the building"}},
}

// sources say where a finding came from, by cycle kind.
var reviewSources = []string{"述职评议会议点评意见", "群众满意度测评反馈", "党员代表民主评议意见", "街道党工委书记点评", "Annual review panel remarks"}
var inspectionSources = []string{"专项检查现场反馈", "巡察组反馈意见", "安全隐患排查记录", "Site inspection report"}

var progressNotes = []string{
	"已召开专题会议研究部署", "已完成自查，形成问题清单", "措施正在落实中", "已完成大部分整改任务",
	"相关部门已到现场协调", "整改进度符合预期", "Work has started with the property office", "Half of the measures are done",
	"", "", "",
}

var completionNotes = []string{"已按计划完成", "已形成长效机制", "经复查达到要求", "Done and checked on site", ""}

var submitNotes = []string{"整改措施全部完成，申请验收", "已补充佐证材料，请验收", "请组织委员验收", "All measures done; please verify", ""}

var verifyNotes = []string{"经实地查看和查阅资料，整改到位，同意销号", "整改到位，群众满意", "资料齐全，同意销号", "Checked on site; closed", ""}

var rejectReasons = []string{
	"佐证材料不完整，缺少会议记录原件扫描件", "整改措施未落到实处，群众仍有反映", "长效机制未建立，需进一步完善",
	"现场查看发现问题仍然存在", "Evidence does not show the fix; add photos after the work",
}

var reopenReasons = []string{"回头看发现问题反弹，重新整改", "群众再次反映同类问题", "Follow-up check found the problem back"}

var deadlineReasons = []string{
	"涉及多部门协调，经党工委会议研究同意延期", "需等待上级资金拨付，申请延期", "施工受天气影响，工期顺延",
	"居民意见尚未统一，需进一步协商", "The contractor needs another month",
}

var withdrawReasons = []string{"经核实，该问题与其他事项重复，合并整改", "经复核不属于本单位职责范围", "Duplicate of another item; merged"}

var carryReasons = []string{"上年度未完成整改，结转至本年度继续整改", "跨年度整改项目，结转至新年度", "Not finished last year; carried into this year's plan"}

var reassignReasons = []string{"人员调整", "职责划转"}

// evidenceNames are file names of evidence, %d numbers them.
var evidenceNames = []string{
	"整改前后对比照片-%d.jpg", "专题会议记录-%d.pdf", "整改工作方案-%d.docx", "居民满意度回访表-%d.xlsx",
	"site-photos-%d.jpg", "minutes-%d.pdf",
}

var evidenceTypes = []string{"image/jpeg", "application/pdf",
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "image/jpeg", "application/pdf"}

// promise is one kind of commitment: a title with %d for the target.
type promise struct {
	title    string
	activity string
	period   string
	target   []int
	personal bool
}

var promises = []promise{
	{"每周至少入户走访%d次", "入户走访", "week", []int{1, 2, 3}, true},
	{"每周为居民解决实际问题不少于%d件", "解决居民问题", "week", []int{2, 3, 5}, false},
	{"每月召开党建工作专题会议%d次", "专题会议", "month", []int{1, 2}, false},
	{"每月走访困难群众%d户", "走访困难群众", "month", []int{3, 5, 8}, false},
	{"每季度开展主题党日活动%d次", "主题党日", "quarter", []int{1, 2}, false},
	{"每季度讲党课%d次", "讲党课", "quarter", []int{1}, true},
	{"每月开展安全隐患排查%d次", "安全排查", "month", []int{2, 4}, false},
	{"每周到联系网格接待群众%d次", "接待群众", "week", []int{1, 2}, true},
	{"Visit at least %d households a week", "home visit", "week", []int{2, 4}, true},
	{"Hold %d volunteer events a month", "volunteer event", "month", []int{1, 2}, false},
}

var activityNotes = []string{"已完成并记录", "形成工作记录", "群众反映良好", "收集意见建议3条", "Recorded in the visit log", ""}

var reviseReasons = []string{"根据年中考核调整目标", "结合工作实际调整考核周期", "承诺期限延长至次年一月", "Target raised after the mid-year review"}

var endReasons = []string{"单位合并，承诺终止", "承诺人岗位调整", "The person moved to another post"}

// Names of the organisation.
var streetNames = []string{"城关街道", "滨江街道", "东湖街道", "新城街道", "Riverside Sub-district"}

var departmentNames = []string{"党建工作办公室", "社会事务办公室", "平安建设办公室", "经济发展办公室", "城市管理办公室", "综合行政执法队", "退役军人服务站", "便民服务中心"}

var communityNames = []string{"东风", "新华", "和平", "迎宾", "滨河", "朝阳", "金桥", "幸福", "光明", "胜利", "建设", "红旗",
	"长青", "花园", "桃源", "文化", "西门", "北关", "南湖", "翠竹", "兴隆", "康宁", "春晖", "Lakeside", "Hillview"}

var companyNames = []string{"华鑫科技有限公司", "绿源物业服务中心", "恒通物流有限公司", "瑞丰食品有限公司", "宏达建设集团", "阳光志愿者协会",
	"惠民养老服务中心", "启航教育培训学校", "Lakeside Logistics Co.", "Blue Bay Software Ltd."}

var surnames = []string{"王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林", "何", "郭", "马", "罗"}

var givenNames = []string{"秀兰", "建国", "丽", "伟", "敏", "强", "静", "磊", "海涛", "晓燕", "宁", "明", "芳", "军", "洋", "勇", "艳", "杰", "娟", "涛", "超", "霞", "平", "刚", "桂英"}

var englishNames = []string{"Li Wei", "Zhang Min", "Anna Chen", "David Wang"}
