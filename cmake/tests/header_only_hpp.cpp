// header_hpp_cxx17, header_hpp_cxx20: include/processing.hpp alone must compile as strict
// C++17 and C++20, its templates instantiated.
#include <processing.hpp>

int pc_header_hpp_check();
int pc_header_hpp_check()
{
    // Never called: this only instantiates the templates.
    pc::Value<long> v(1);
    pc::Array<double> a(3);
    pc::Queue q;
    pc::Process p([&] { return static_cast<int>(v.get() + a.get(0) + q.qsize()); });
    pc::Pool pool(1);
    std::vector<int> in{1, 2};
    return pool.map_array([](int x) { return x * 2; }, in).at(0);
}
