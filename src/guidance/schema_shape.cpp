#include "guidance/schema_shape.h"

namespace mlxs::guidance {

bool ObjectAlt::unconstrained() const {
  if (!props.empty() || names != nullptr || min != 0 || max != kUnbounded) return false;
  for (const Side& s : sides) {
    if (!s.patterns.empty() || s.additional) return false;
  }
  return true;
}

const ObjectAlt::Prop* ObjectAlt::find(const std::string& name) const {
  for (const Prop& p : props) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

bool ArrayAlt::unconstrained() const {
  if (!items.is_any() || min != 0 || max != kUnbounded || !contains.empty() || unique) return false;
  for (const Expr& e : prefix) {
    if (!e.is_any()) return false;
  }
  return true;
}

Shape Shape::nothing() {
  Shape s;
  s.null_ok = s.true_ok = s.false_ok = false;
  s.str = Domain::none();
  s.num = Domain::none();
  s.objects.clear();
  s.arrays.clear();
  return s;
}

bool Shape::is_nothing() const {
  return !null_ok && !true_ok && !false_ok && str.is_none() && num.is_none() && objects.empty() &&
         arrays.empty() && literals.empty();
}

}  // namespace mlxs::guidance
