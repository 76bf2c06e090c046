package query

// StatusOp is the query operation every served view answers, on
// natsx.QuerySubject(view, StatusOp), with a ViewStatus and, in the
// response envelope, the view's position. Like every query it honours
// MinPosition, so a readiness probe that sends the store head as
// MinPosition learns whether the view has caught up. It takes no
// parameters and ignores the scope.
const StatusOp = "status"

// ViewStatus names the view and the replica that answered StatusOp.
type ViewStatus struct {
	View    string `json:"view"`
	Replica string `json:"replica"`
}
