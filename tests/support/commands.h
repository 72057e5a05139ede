#ifndef AUDITLEDGER_TESTS_SUPPORT_COMMANDS_H_
#define AUDITLEDGER_TESTS_SUPPORT_COMMANDS_H_

#include <string>

#include "auditledger/v1/ledger_service.pb.h"

// Terse builders for the commands tests send.
namespace auditledger::testing {

inline v1::Command CreatePlan(const std::string& id, const std::string& title = "Action plan") {
  v1::Command c;
  c.mutable_create_plan()->set_plan_id(id);
  c.mutable_create_plan()->set_title(title);
  c.mutable_create_plan()->set_council("Oxford City Council");
  return c;
}

inline v1::Command AddRecommendation(const std::string& plan, const std::string& id, int number) {
  v1::Command c;
  auto* r = c.mutable_add_recommendation();
  r->set_parent("plans/" + plan);
  r->set_recommendation_id(id);
  r->set_number(number);
  r->set_title("Recommendation " + std::to_string(number));
  r->set_text("Text of recommendation " + std::to_string(number));
  return c;
}

inline v1::Command AddAction(const std::string& rec_name, const std::string& id,
                             const std::string& target = "", const std::string& owner = "") {
  v1::Command c;
  auto* a = c.mutable_add_action();
  a->set_parent(rec_name);
  a->set_action_id(id);
  a->set_description("Action " + id);
  a->set_target_date(target);
  a->set_owner(owner);
  return c;
}

inline v1::Command ChangeStatus(const std::string& name, v1::ActionStatus status,
                                const std::string& reason = "") {
  v1::Command c;
  c.mutable_change_action_status()->set_name(name);
  c.mutable_change_action_status()->set_status(status);
  c.mutable_change_action_status()->set_reason(reason);
  return c;
}

inline v1::Command RecordUpdate(const std::string& name, const std::string& period,
                                const std::string& narrative) {
  v1::Command c;
  c.mutable_record_update()->set_name(name);
  c.mutable_record_update()->set_period(period);
  c.mutable_record_update()->set_narrative(narrative);
  return c;
}

inline v1::Command ReviseTarget(const std::string& name, const std::string& target,
                                const std::string& reason = "") {
  v1::Command c;
  c.mutable_revise_target_date()->set_name(name);
  c.mutable_revise_target_date()->set_target_date(target);
  c.mutable_revise_target_date()->set_reason(reason);
  return c;
}

inline v1::Command AssignOwner(const std::string& name, const std::string& owner) {
  v1::Command c;
  c.mutable_assign_owner()->set_name(name);
  c.mutable_assign_owner()->set_owner(owner);
  return c;
}

inline v1::Command AmendDescription(const std::string& name, const std::string& description,
                                    const std::string& reason = "") {
  v1::Command c;
  c.mutable_amend_description()->set_name(name);
  c.mutable_amend_description()->set_description(description);
  c.mutable_amend_description()->set_reason(reason);
  return c;
}

inline v1::Command OpenPeriod(const std::string& plan, const std::string& id,
                              const std::string& title) {
  v1::Command c;
  c.mutable_open_period()->set_parent("plans/" + plan);
  c.mutable_open_period()->set_period_id(id);
  c.mutable_open_period()->set_title(title);
  return c;
}

inline v1::Command ClosePeriod(const std::string& name) {
  v1::Command c;
  c.mutable_close_period()->set_name(name);
  return c;
}

inline v1::Command CorrectNarrative(uint64_t position, const std::string& text,
                                    const std::string& reason) {
  v1::Command c;
  c.mutable_correct_event()->set_event("events/" + std::to_string(position));
  c.mutable_correct_event()->set_narrative(text);
  c.mutable_correct_event()->set_reason(reason);
  return c;
}

}  // namespace auditledger::testing

#endif  // AUDITLEDGER_TESTS_SUPPORT_COMMANDS_H_
